//go:build unix

package kubernetes_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators/kubernetes"
)

// kind is a pod or a Job as the tests that hold for both drive it: the
// operator's configuration, and what the cluster (a fake clientset, which
// runs no controller) does with the object the operator creates.
type kind struct {
	// name is the kind as the task log names it: "pod" or "Job".
	name string
	// resource is the kind's API resource: "pods" or "jobs".
	resource string
	// template sets the kind's template in a configuration.
	template func(*kubernetes.PodConfig)
	// only waits until ns holds exactly one object of the kind and returns
	// its name.
	only func(t *testing.T, cs *k8sfake.Clientset, ns string) string
	// run makes the object run; running is its state as the log then names
	// it.
	run     func(t *testing.T, cs *k8sfake.Clientset, ns, name string)
	running string
	// succeed makes the object end successfully.
	succeed func(t *testing.T, cs *k8sfake.Clientset, ns, name string)
	// exists reports whether the object is still in the cluster.
	exists func(t *testing.T, cs *k8sfake.Clientset, ns, name string) bool
	// deleted is what the log says once the operator deleted the object.
	deleted string
}

var kinds = []kind{
	{
		name: "pod", resource: "pods", running: "Running", deleted: "",
		template: func(c *kubernetes.PodConfig) { c.Pod = podTemplate() },
		only:     func(t *testing.T, cs *k8sfake.Clientset, ns string) string { return onlyPod(t, cs, ns).Name },
		run: func(t *testing.T, cs *k8sfake.Clientset, ns, name string) {
			setPhase(t, cs, corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}, corev1.PodRunning)
		},
		succeed: func(t *testing.T, cs *k8sfake.Clientset, ns, name string) {
			setPhase(t, cs, corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}, corev1.PodSucceeded)
		},
		exists: func(t *testing.T, cs *k8sfake.Clientset, ns, name string) bool {
			_, err := cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
			require.True(t, err == nil || apierrors.IsNotFound(err), "%v", err)
			return err == nil
		},
	},
	{
		name: "Job", resource: "jobs", running: "Active", deleted: " and its pods",
		template: func(c *kubernetes.PodConfig) { c.Job = jobTemplate() },
		only:     func(t *testing.T, cs *k8sfake.Clientset, ns string) string { return onlyJob(t, cs, ns).Name },
		run: func(t *testing.T, cs *k8sfake.Clientset, ns, name string) {
			job := jobNamed(t, cs, ns, name)
			addJobPod(t, cs, job, name+"-ppppp", corev1.PodRunning)
			setJobStatus(t, cs, job, 1, "", "", "")
		},
		succeed: func(t *testing.T, cs *k8sfake.Clientset, ns, name string) {
			setJobStatus(t, cs, jobNamed(t, cs, ns, name), 0, batchv1.JobComplete, "", "")
		},
		exists: func(t *testing.T, cs *k8sfake.Clientset, ns, name string) bool {
			_, err := cs.BatchV1().Jobs(ns).Get(context.Background(), name, metav1.GetOptions{})
			require.True(t, err == nil || apierrors.IsNotFound(err), "%v", err)
			return err == nil
		},
	},
}

func jobNamed(t *testing.T, cs *k8sfake.Clientset, ns, name string) batchv1.Job {
	t.Helper()
	job, err := cs.BatchV1().Jobs(ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return *job
}

// createdName returns the name of the object of resource created in cs.
func createdName(t *testing.T, cs *k8sfake.Clientset, resource string) string {
	t.Helper()
	for _, a := range cs.Actions() {
		if c, ok := a.(k8stesting.CreateAction); ok && a.GetResource().Resource == resource {
			obj, err := meta.Accessor(c.GetObject())
			require.NoError(t, err)
			return obj.GetName()
		}
	}
	t.Fatalf("no %s created", resource)
	return ""
}

// config is the operator's configuration of kind k on cs, polling fast.
func (k kind) config(cs *k8sfake.Clientset) kubernetes.PodConfig {
	c := kubernetes.PodConfig{Client: cs, PollInterval: 10 * time.Millisecond}
	k.template(&c)
	return c
}

// forEachKind runs test as a parallel subtest for pods and for Jobs.
func forEachKind(t *testing.T, test func(t *testing.T, k kind)) {
	t.Parallel()
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			test(t, k)
		})
	}
}

// A client that shuts down leaves the object running; the next attempt, in
// a client started again on the same store, adopts it (by its labels)
// instead of creating a second one.
func TestAdoptedAfterARestart(t *testing.T) {
	forEachKind(t, func(t *testing.T, k kind) {
		cs := k8sfake.NewClientset()
		cfg := k.config(cs)
		cfg.Streaming = true
		wf := aiflow.NewWorkflow("w")
		wf.Task("serve", kubernetes.Pod(cfg))
		env := newEnv(t, wf)
		x, err := env.Client.StartWorkflowExecution(env.Context(), "w", nil)
		require.NoError(t, err)
		name := k.only(t, cs, "default")
		k.run(t, cs, "default", name)
		te := env.WaitTaskExecution(x, "serve", 1, aiflow.TaskRunning)
		env.WaitTaskLog(te.ID, "fake logs")

		env.Stop()
		te = env.WaitTaskExecution(x, "serve", 1, aiflow.TaskRetrying)
		env.WaitTaskLog(te.ID, k.name+" default/"+name+" keeps running for the next attempt")
		require.True(t, k.exists(t, cs, "default", name), "the %s survives the shutdown", k.name)

		env.Restart()
		env.WaitTaskLog(te.ID, "adopting "+k.name+" default/"+name+` \(created by attempt 1, `+k.running+`\)`)
		te = env.WaitTaskExecution(x, "serve", 1, aiflow.TaskRunning)
		require.Equal(t, 2, te.Attempt)
		k.succeed(t, cs, "default", name)
		env.WaitTaskExecution(x, "serve", 1, aiflow.TaskSuccess)
		require.Equal(t, 1, countActions(cs, "create", k.resource), "one %s for the task execution, whatever the attempts", k.name)
	})
}

// STOP deletes the object of a running task, and so does the task's
// timeout; a Job is deleted with its pods (background propagation).
func TestStopAndTimeoutDelete(t *testing.T) {
	forEachKind(t, func(t *testing.T, k kind) {
		stopped, timedOut := k8sfake.NewClientset(), k8sfake.NewClientset()
		serve := k.config(stopped)
		serve.Streaming = true
		wf := aiflow.NewWorkflow("w")
		wf.Task("serve", kubernetes.Pod(serve))
		wf.Task("slow", kubernetes.Pod(k.config(timedOut)), aiflow.WithTimeout(time.Second))
		env := newEnv(t, wf)
		x, err := env.Client.StartWorkflowExecution(env.Context(), "w", nil)
		require.NoError(t, err)

		stoppedName := k.only(t, stopped, "default")
		k.run(t, stopped, "default", stoppedName)
		te := env.WaitTaskExecution(x, "serve", 1, aiflow.TaskRunning)
		require.True(t, te.Streaming)
		env.WaitTaskLog(te.ID, "fake logs")
		require.NoError(t, env.Client.StopTaskExecution(env.Context(), x, "serve"))
		te = env.WaitTaskExecution(x, "serve", 1, aiflow.TaskStopped)
		env.WaitTaskLog(te.ID, regexp.QuoteMeta("deleted "+k.name+" default/"+stoppedName+k.deleted))
		require.False(t, k.exists(t, stopped, "default", stoppedName), "STOP deletes the %s", k.name)

		te = env.WaitTaskExecution(x, "slow", 1, aiflow.TaskFailed)
		require.Contains(t, te.Error, "timed out")
		timedOutName := createdName(t, timedOut, k.resource) // deleted by now
		env.WaitTaskLog(te.ID, regexp.QuoteMeta("deleted "+k.name+" default/"+timedOutName+k.deleted+" (the attempt timed out after 1s)"))
		require.False(t, k.exists(t, timedOut, "default", timedOutName), "the timeout deletes the %s", k.name)
		require.Equal(t, 1, countActions(timedOut, "create", k.resource))

		if k.resource == "jobs" {
			for cs, name := range map[*k8sfake.Clientset]string{stopped: stoppedName, timedOut: timedOutName} {
				policy, ok := jobDeletion(cs, name)
				require.True(t, ok)
				require.Equal(t, metav1.DeletePropagationBackground, policy, "the pods are deleted with the Job")
			}
		}
	})
}
