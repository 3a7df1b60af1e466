//go:build unix

package kubernetes_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators/kubernetes"
)

func jobTemplate() *batchv1.Job {
	backoff := int32(2)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"team": "ml"}, Annotations: map[string]string{"owner": "alice"}},
		Spec: batchv1.JobSpec{
			BackoffLimit: &backoff,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "trainer"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "main", Image: "trainer:1", Command: []string{"python", "train.py"},
					Env: []corev1.EnvVar{{Name: "KEEP", Value: "1"}, {Name: "MINE", Value: "from the template"}},
				}}},
			},
		},
	}
}

// onlyJob waits until the namespace holds exactly one Job and returns it.
func onlyJob(t *testing.T, cs *k8sfake.Clientset, ns string) batchv1.Job {
	t.Helper()
	var job batchv1.Job
	require.Eventually(t, func() bool {
		list, err := cs.BatchV1().Jobs(ns).List(context.Background(), metav1.ListOptions{})
		require.NoError(t, err)
		if len(list.Items) != 1 {
			return false
		}
		job = list.Items[0]
		return true
	}, waitFor, tick)
	return job
}

// setJobStatus sets a Job's active pods and, when cond is not empty, a
// condition that holds.
func setJobStatus(t *testing.T, cs *k8sfake.Clientset, job batchv1.Job, active int32, cond batchv1.JobConditionType, reason, message string) {
	t.Helper()
	j, err := cs.BatchV1().Jobs(job.Namespace).Get(context.Background(), job.Name, metav1.GetOptions{})
	require.NoError(t, err)
	j.Status.Active = active
	if cond != "" {
		j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{Type: cond, Status: corev1.ConditionTrue, Reason: reason, Message: message})
	}
	_, err = cs.BatchV1().Jobs(job.Namespace).UpdateStatus(context.Background(), j, metav1.UpdateOptions{})
	require.NoError(t, err)
}

// addJobPod creates a pod of the Job as the Job controller would (the fake
// clientset runs no controller): from its pod template, in phase.
func addJobPod(t *testing.T, cs *k8sfake.Clientset, job batchv1.Job, name string, phase corev1.PodPhase, statuses ...corev1.ContainerStatus) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: job.Namespace, Labels: job.Spec.Template.Labels},
		Spec:       job.Spec.Template.Spec,
		Status:     corev1.PodStatus{Phase: phase, ContainerStatuses: statuses},
	}
	_, err := cs.CoreV1().Pods(job.Namespace).Create(context.Background(), pod, metav1.CreateOptions{})
	require.NoError(t, err)
}

func countActions(cs *k8sfake.Clientset, verb, resource string) int {
	n := 0
	for _, a := range cs.Actions() {
		if a.GetVerb() == verb && a.GetResource().Resource == resource {
			n++
		}
	}
	return n
}

// jobDeletion returns the propagation policy of the deletion of the Job
// name, and whether there was one.
func jobDeletion(cs *k8sfake.Clientset, name string) (metav1.DeletionPropagation, bool) {
	for _, a := range cs.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok && a.GetResource().Resource == "jobs" && d.GetName() == name {
			if p := d.GetDeleteOptions().PropagationPolicy; p != nil {
				return *p, true
			}
			return "", true
		}
	}
	return "", false
}

func TestJobRunsFollowsAndLogs(t *testing.T) {
	t.Parallel()
	cs := k8sfake.NewClientset()
	wf := aiflow.NewWorkflow("Train_Flow")
	wf.Task("train", kubernetes.Pod(kubernetes.PodConfig{
		Client: cs, Job: jobTemplate(), Namespace: "ml", PollInterval: 10 * time.Millisecond,
	}), aiflow.WithEnv(map[string]string{"MINE": "yes"}))
	env := newEnv(t, wf)
	x, err := env.Client.StartWorkflowExecution(env.Context(), "Train_Flow", nil)
	require.NoError(t, err)
	job := onlyJob(t, cs, "ml")
	te := env.WaitTaskExecution(x, "train", 1, aiflow.TaskRunning)
	id := strconv.FormatInt(te.ID, 10)

	require.Equal(t, "train-flow-train-"+id+"-1", job.Name)
	ids := map[string]string{kubernetes.LabelNamespace: "default", kubernetes.LabelWorkflow: "Train_Flow",
		kubernetes.LabelExecutionID: strconv.FormatInt(x, 10), kubernetes.LabelTask: "train", kubernetes.LabelSeqNum: "1",
		kubernetes.LabelTaskExecutionID: id, kubernetes.LabelAttempt: "1"}
	want := map[string]string{"team": "ml"}
	for k, v := range ids {
		want[k] = v
	}
	require.Equal(t, want, job.Labels)
	require.Equal(t, "alice", job.Annotations["owner"])
	require.Equal(t, "Train_Flow", job.Annotations[kubernetes.LabelWorkflow])
	want = map[string]string{"app": "trainer"}
	for k, v := range ids {
		want[k] = v
	}
	require.Equal(t, want, job.Spec.Template.Labels, "the pods carry the task execution too")
	require.Equal(t, int32(2), *job.Spec.BackoffLimit, "the template's spec is kept")
	require.Equal(t, corev1.RestartPolicyNever, job.Spec.Template.Spec.RestartPolicy)
	vars := map[string]string{}
	for _, e := range job.Spec.Template.Spec.Containers[0].Env {
		vars[e.Name] = e.Value
	}
	require.Equal(t, "1", vars["KEEP"])
	require.Equal(t, "yes", vars["MINE"], "WithEnv wins over the template")
	require.Equal(t, id, vars[aiflow.EnvTaskExecutionID])
	require.Zero(t, countActions(cs, "create", "pods"), "the Job controller creates the pods, not the operator")

	env.WaitTaskLog(te.ID, "Job ml/"+job.Name+" is Pending")
	// The first pod fails, the Job controller retries it.
	addJobPod(t, cs, job, job.Name+"-aaaaa", corev1.PodFailed, corev1.ContainerStatus{Name: "main",
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}}})
	addJobPod(t, cs, job, job.Name+"-bbbbb", corev1.PodRunning)
	setJobStatus(t, cs, job, 1, "", "", "")
	env.WaitTaskLog(te.ID, "Job ml/"+job.Name+" is Active")
	env.WaitTaskLog(te.ID, "copying the log of pod ml/"+job.Name+"-bbbbb \\(Running\\)")
	env.WaitTaskLog(te.ID, "copying the log of pod ml/"+job.Name+"-aaaaa \\(Failed\\)")
	env.WaitTaskLog(te.ID, "fake logs")
	require.Eventually(t, func() bool {
		te, err := env.Client.GetTaskExecution(env.Context(), te.ID)
		require.NoError(t, err)
		return te.StatusMessage == "job "+job.Name+": Active"
	}, waitFor, tick)
	setJobStatus(t, cs, job, 0, batchv1.JobComplete, "", "")
	te = env.WaitTaskExecution(x, "train", 1, aiflow.TaskSuccess, aiflow.TaskFailed)
	require.Equal(t, aiflow.TaskSuccess, te.Status, te.Error)
	require.Equal(t, "job "+job.Name+": Succeeded", te.StatusMessage)
	require.Equal(t, 1, countActions(cs, "create", "jobs"))
	_, err = cs.BatchV1().Jobs("ml").Get(env.Context(), job.Name, metav1.GetOptions{})
	require.NoError(t, err, "an ended Job is left for inspection")
}

// A Job that fails fails the task, with the reason of its condition and of
// its failed pod, and is left for inspection.
func TestJobFailure(t *testing.T) {
	t.Parallel()
	failing := k8sfake.NewClientset()
	wf := aiflow.NewWorkflow("w")
	wf.Task("fails", kubernetes.Pod(kubernetes.PodConfig{Client: failing, Job: jobTemplate(), PollInterval: 10 * time.Millisecond}))
	env := newEnv(t, wf)
	x, err := env.Client.StartWorkflowExecution(env.Context(), "w", nil)
	require.NoError(t, err)

	job := onlyJob(t, failing, "default")
	addJobPod(t, failing, job, job.Name+"-xxxxx", corev1.PodFailed, corev1.ContainerStatus{Name: "main",
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}})
	setJobStatus(t, failing, job, 0, batchv1.JobFailed, "BackoffLimitExceeded", "Job has reached the specified backoff limit")
	te := env.WaitTaskExecution(x, "fails", 1, aiflow.TaskFailed)
	require.Contains(t, te.Error, "Job default/"+job.Name+" failed: BackoffLimitExceeded Job has reached the specified backoff limit; "+
		"pod "+job.Name+"-xxxxx: container main exited with code 137 OOMKilled")
	_, deleted := jobDeletion(failing, job.Name)
	require.False(t, deleted, "a failed Job is left for inspection")
}
