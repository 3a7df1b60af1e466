package kubernetes_test

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sfake "k8s.io/client-go/kubernetes/fake"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators/kubernetes"
)

// A task that runs as a pod. In production the client comes from
// kubernetes.NewForConfig (package k8s.io/client-go/kubernetes) with the
// cluster's rest.Config; a fake clientset stands in for it here.
func ExamplePod() {
	clientset := k8sfake.NewClientset()
	template := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ml", Labels: map[string]string{"team": "ml"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:    "train",
			Image:   "trainer:1",
			Command: []string{"python", "train.py", "--run", "$(AIFLOW_TASK_EXECUTION_ID)"},
		}}},
	}
	op := kubernetes.Pod(kubernetes.PodConfig{Client: clientset, Pod: template})
	if err := op.Validate(); err != nil {
		fmt.Println(err)
		return
	}

	wf := aiflow.NewWorkflow("training")
	wf.Task("train", op, aiflow.WithEnv(map[string]string{"EPOCHS": "3"}))
	fmt.Println(op.Describe())
	// Output:
	// namespace=ml; train=trainer:1 python train.py --run $(AIFLOW_TASK_EXECUTION_ID)
}
