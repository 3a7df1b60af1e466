//go:build unix

package kubernetes_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators/kubernetes"
	"github.com/aiflow-go/aiflow/store/memory"
)

func podTemplate() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"team": "ml"}, Annotations: map[string]string{"owner": "alice"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "main", Image: "trainer:1", Command: []string{"python", "train.py"},
			Env: []corev1.EnvVar{{Name: "KEEP", Value: "1"}, {Name: "MINE", Value: "from the template"}},
		}}},
	}
}

// onlyPod waits until the namespace holds exactly one pod and returns it.
func onlyPod(t *testing.T, cs *k8sfake.Clientset, ns string) corev1.Pod {
	t.Helper()
	var pod corev1.Pod
	require.Eventually(t, func() bool {
		list, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		require.NoError(t, err)
		if len(list.Items) != 1 {
			return false
		}
		pod = list.Items[0]
		return true
	}, waitFor, tick)
	return pod
}

func setPhase(t *testing.T, cs *k8sfake.Clientset, pod corev1.Pod, phase corev1.PodPhase, statuses ...corev1.ContainerStatus) {
	t.Helper()
	p, err := cs.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
	require.NoError(t, err)
	p.Status.Phase = phase
	p.Status.ContainerStatuses = statuses
	_, err = cs.CoreV1().Pods(pod.Namespace).UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
	require.NoError(t, err)
}

func creates(cs *k8sfake.Clientset) int {
	n := 0
	for _, a := range cs.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource == "pods" {
			n++
		}
	}
	return n
}

func TestPodRunsFollowsAndLogs(t *testing.T) {
	t.Parallel()
	cs := k8sfake.NewClientset()
	wf := aiflow.NewWorkflow("Train_Flow")
	wf.Task("train", kubernetes.Pod(kubernetes.PodConfig{
		Client: cs, Pod: podTemplate(), Namespace: "ml", PollInterval: 10 * time.Millisecond,
	}), aiflow.WithEnv(map[string]string{"MINE": "yes"}))
	env := newEnv(t, wf)
	x, err := env.Client.StartWorkflowExecution(env.Context(), "Train_Flow", nil)
	require.NoError(t, err)
	pod := onlyPod(t, cs, "ml")
	te := env.WaitTaskExecution(x, "train", 1, aiflow.TaskRunning)
	id := strconv.FormatInt(te.ID, 10)

	require.Equal(t, "train-flow-train-"+id+"-1", pod.Name)
	require.Equal(t, map[string]string{"team": "ml", kubernetes.LabelNamespace: "default", kubernetes.LabelWorkflow: "Train_Flow",
		kubernetes.LabelExecutionID: strconv.FormatInt(x, 10), kubernetes.LabelTask: "train", kubernetes.LabelSeqNum: "1",
		kubernetes.LabelTaskExecutionID: id, kubernetes.LabelAttempt: "1"}, pod.Labels)
	require.Equal(t, "alice", pod.Annotations["owner"])
	require.Equal(t, "Train_Flow", pod.Annotations[kubernetes.LabelWorkflow])
	require.Equal(t, corev1.RestartPolicyNever, pod.Spec.RestartPolicy)
	vars := map[string]string{}
	for _, e := range pod.Spec.Containers[0].Env {
		vars[e.Name] = e.Value
	}
	require.Equal(t, "1", vars["KEEP"])
	require.Equal(t, "yes", vars["MINE"], "WithEnv wins over the template")
	require.Equal(t, id, vars[aiflow.EnvTaskExecutionID])
	require.Equal(t, "Train_Flow", vars[aiflow.EnvWorkflow])
	require.Contains(t, vars, aiflow.EnvInput, "the execution's input is passed even when empty")
	// KEEP and MINE and the eight AIFLOW_* variables, each once.
	require.Len(t, pod.Spec.Containers[0].Env, 10)
	require.Len(t, vars, 10, "no variable twice")

	env.WaitTaskLog(te.ID, "pod ml/"+pod.Name+" is Pending")
	setPhase(t, cs, pod, corev1.PodRunning)
	env.WaitTaskLog(te.ID, "is Running(.|\n)*fake logs")
	require.Eventually(t, func() bool {
		te, err := env.Client.GetTaskExecution(env.Context(), te.ID)
		require.NoError(t, err)
		return te.StatusMessage == "pod "+pod.Name+": Running"
	}, waitFor, tick)
	setPhase(t, cs, pod, corev1.PodSucceeded)
	te = env.WaitTaskExecution(x, "train", 1, aiflow.TaskSuccess, aiflow.TaskFailed)
	require.Equal(t, aiflow.TaskSuccess, te.Status, te.Error)
	require.Equal(t, 1, creates(cs))
	_, err = cs.CoreV1().Pods("ml").Get(env.Context(), pod.Name, metav1.GetOptions{})
	require.NoError(t, err, "an ended pod is left for inspection")
}

// A pod that fails fails the task, with its container's exit.
func TestPodFailure(t *testing.T) {
	t.Parallel()
	failing := k8sfake.NewClientset()
	wf := aiflow.NewWorkflow("w")
	wf.Task("fails", kubernetes.Pod(kubernetes.PodConfig{Client: failing, Pod: podTemplate(), PollInterval: 10 * time.Millisecond}))
	env := newEnv(t, wf)
	x, err := env.Client.StartWorkflowExecution(env.Context(), "w", nil)
	require.NoError(t, err)

	pod := onlyPod(t, failing, "default")
	setPhase(t, failing, pod, corev1.PodFailed, corev1.ContainerStatus{Name: "main",
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}})
	te := env.WaitTaskExecution(x, "fails", 1, aiflow.TaskFailed)
	require.Contains(t, te.Error, "container main exited with code 137 OOMKilled")
}

func TestPodValidationAndNames(t *testing.T) {
	t.Parallel()
	always := jobTemplate()
	always.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
	for _, tc := range []struct {
		cfg  kubernetes.PodConfig
		want string
	}{
		{kubernetes.PodConfig{Pod: podTemplate()}, "Client is nil"},
		{kubernetes.PodConfig{Client: k8sfake.NewClientset(), Pod: &corev1.Pod{}}, "the Pod template has no container"},
		{kubernetes.PodConfig{Client: k8sfake.NewClientset()}, "Pod and Job are nil"},
		{kubernetes.PodConfig{Client: k8sfake.NewClientset(), Pod: podTemplate(), Job: jobTemplate()}, "both Pod and Job are set"},
		{kubernetes.PodConfig{Client: k8sfake.NewClientset(), Job: &batchv1.Job{}}, "the Job template's pod template has no container"},
		{kubernetes.PodConfig{Client: k8sfake.NewClientset(), Job: always}, `restart policy is "Always": expected Never or OnFailure`},
	} {
		wf := aiflow.NewWorkflow("w")
		wf.Task("t", kubernetes.Pod(tc.cfg))
		c, err := aiflow.New(&aiflow.Config{Store: memory.New(nil)})
		require.NoError(t, err)
		err = c.Register(t.Context(), wf)
		require.ErrorIs(t, err, aiflow.ErrInvalidWorkflow)
		require.ErrorContains(t, err, tc.want)
	}
	require.Equal(t, "namespace=ml; job; main=trainer:1 python train.py ",
		kubernetes.Pod(kubernetes.PodConfig{Job: jobTemplate(), Namespace: "ml"}).Describe())
	// A creation that fails fails the task.
	cs := k8sfake.NewClientset()
	cs.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(corev1.Resource("pods"), "x", errors.New("quota exceeded"))
	})
	wf := aiflow.NewWorkflow("w")
	wf.Task("t", kubernetes.Pod(kubernetes.PodConfig{Client: cs, Pod: podTemplate()}))
	env := newEnv(t, wf)
	_, te := env.RunTask("w", "t", aiflow.TaskFailed)
	require.Contains(t, te.Error, "quota exceeded")
}
