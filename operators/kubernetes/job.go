package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	typedbatchv1 "k8s.io/client-go/kubernetes/typed/batch/v1"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/aiflow-go/aiflow"
)

// The states of a Job that Pod reports.
const (
	jobPending   = "Pending"
	jobActive    = "Active"
	jobSucceeded = "Succeeded"
	jobFailed    = "Failed"
)

// runJob creates or adopts the task execution's Job and follows it until it
// ends or ctx ends.
func (k *PodOperator) runJob(ctx context.Context, tc *aiflow.TaskContext) error {
	jobs := k.cfg.Client.BatchV1().Jobs(k.cfg.Namespace)
	job, err := k.findOrCreateJob(ctx, tc, jobs)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("kubernetes: %w", context.Cause(ctx))
		}
		return err
	}
	return k.followJob(ctx, tc, jobs, job)
}

func (k *PodOperator) findOrCreateJob(ctx context.Context, tc *aiflow.TaskContext, jobs typedbatchv1.JobInterface) (*batchv1.Job, error) {
	labels, annotations := identity(tc)
	list, err := jobs.List(ctx, metav1.ListOptions{LabelSelector: LabelTaskExecutionID + "=" + labels[LabelTaskExecutionID]})
	if err != nil {
		return nil, fmt.Errorf("kubernetes: listing the Jobs of task execution %d: %w", tc.TaskExecutionID, err)
	}
	var found *batchv1.Job
	for i := range list.Items {
		j := &list.Items[i]
		if !sameTaskExecution(j.Annotations, annotations) || j.DeletionTimestamp != nil || jobState(j) == jobFailed {
			continue
		}
		if found == nil || j.CreationTimestamp.After(found.CreationTimestamp.Time) {
			found = j
		}
	}
	if found != nil {
		fmt.Fprintf(tc.Log, "aiflow: adopting Job %s/%s (created by attempt %s, %s)\n", k.cfg.Namespace, found.Name,
			found.Annotations[LabelAttempt], jobState(found))
		return found, nil
	}
	job := k.cfg.Job.DeepCopy()
	job.ObjectMeta = metav1.ObjectMeta{
		Name: podName(tc), Namespace: k.cfg.Namespace,
		Labels:      merge(job.Labels, labels),
		Annotations: merge(job.Annotations, annotations),
	}
	tmpl := &job.Spec.Template
	tmpl.Labels = merge(tmpl.Labels, labels)
	tmpl.Annotations = merge(tmpl.Annotations, annotations)
	if tmpl.Spec.RestartPolicy == "" {
		tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	}
	setTaskEnv(&tmpl.Spec, tc)
	created, err := jobs.Create(ctx, job, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		fmt.Fprintf(tc.Log, "aiflow: Job %s/%s exists already: adopting it\n", k.cfg.Namespace, job.Name)
		return job, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes: creating Job %s/%s: %w", k.cfg.Namespace, job.Name, err)
	}
	fmt.Fprintf(tc.Log, "aiflow: created Job %s/%s\n", k.cfg.Namespace, created.Name)
	return created, nil
}

// jobState is a Job's state: Succeeded or Failed once its Complete or
// Failed condition holds, else Active while it has active pods, else
// Pending.
func jobState(j *batchv1.Job) string {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return jobSucceeded
		case batchv1.JobFailed:
			return jobFailed
		}
	}
	if j.Status.Active > 0 {
		return jobActive
	}
	return jobPending
}

// jobPodSelector selects the pods of a Job created by Pod: its
// pod template carries the task execution and the creating attempt.
func jobPodSelector(j *batchv1.Job) string {
	return LabelTaskExecutionID + "=" + j.Labels[LabelTaskExecutionID] + "," + LabelAttempt + "=" + j.Labels[LabelAttempt]
}

func (k *PodOperator) followJob(ctx context.Context, tc *aiflow.TaskContext, jobs typedbatchv1.JobInterface, job *batchv1.Job) error {
	name := job.Name
	pods := k.cfg.Client.CoreV1().Pods(k.cfg.Namespace)
	selector := jobPodSelector(job)
	t := time.NewTicker(k.cfg.PollInterval)
	defer t.Stop()
	logCtx, stopLogs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLogs()
	logs := map[string]chan struct{}{} // pod name -> its log copy's end
	allLogs := func() []chan struct{} {
		out := make([]chan struct{}, 0, len(logs))
		for _, d := range logs {
			out = append(out, d)
		}
		return out
	}
	var state string
	errorsInARow := 0
	for {
		j, err := jobs.Get(ctx, name, metav1.GetOptions{})
		switch {
		case ctx.Err() != nil:
		case apierrors.IsNotFound(err):
			return fmt.Errorf("kubernetes: Job %s/%s was deleted outside the task", k.cfg.Namespace, name)
		case err != nil:
			errorsInARow++
			fmt.Fprintf(tc.Log, "aiflow: reading Job %s/%s failed (%d in a row): %v\n", k.cfg.Namespace, name, errorsInARow, err)
			if errorsInARow >= podErrorsMax {
				return fmt.Errorf("kubernetes: reading Job %s/%s failed %d times in a row: %w", k.cfg.Namespace, name, errorsInARow, err)
			}
		default:
			errorsInARow = 0
			if s := jobState(j); s != state {
				state = s
				fmt.Fprintf(tc.Log, "aiflow: Job %s/%s is %s\n", k.cfg.Namespace, name, state)
				if err := tc.ReportStatus(ctx, "job "+name+": "+state); err != nil {
					tc.Logger.Warn("reporting the Job's state failed", "error", err)
				}
			}
			jobPods := k.streamJobLogs(ctx, logCtx, tc, pods, selector, logs)
			if state == jobSucceeded || state == jobFailed {
				k.drainLog(stopLogs, allLogs()...)
				if state == jobFailed {
					return fmt.Errorf("kubernetes: Job %s/%s failed: %s", k.cfg.Namespace, name, jobFailure(j, jobPods))
				}
				return nil
			}
		}
		select {
		case <-ctx.Done():
			stopLogs()
			for _, d := range allLogs() {
				<-d
			}
			return k.stopJob(ctx, tc, jobs, name)
		case <-t.C:
		}
	}
}

// streamJobLogs starts copying the log of every pod of the Job that has
// started and whose log is not copied yet, and returns the pods.
func (k *PodOperator) streamJobLogs(ctx, logCtx context.Context, tc *aiflow.TaskContext, pods typedcorev1.PodInterface,
	selector string, logs map[string]chan struct{}) []corev1.Pod {
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		if ctx.Err() == nil {
			fmt.Fprintf(tc.Log, "aiflow: listing the Job's pods failed: %v\n", err)
		}
		return nil
	}
	for i := range list.Items {
		p := &list.Items[i]
		if _, ok := logs[p.Name]; ok {
			continue
		}
		if phase := phaseOf(p); phase == corev1.PodPending || phase == corev1.PodUnknown {
			continue
		}
		fmt.Fprintf(tc.Log, "aiflow: copying the log of pod %s/%s (%s)\n", k.cfg.Namespace, p.Name, phaseOf(p))
		done := make(chan struct{})
		logs[p.Name] = done
		go k.copyLog(logCtx, tc, pods, p.DeepCopy(), done)
	}
	return list.Items
}

// jobFailure describes why a Job failed: its Failed condition and the
// termination reasons of its failed pods.
func jobFailure(j *batchv1.Job, pods []corev1.Pod) string {
	var parts []string
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			parts = append(parts, strings.TrimSpace(c.Reason+" "+c.Message))
		}
	}
	for i := range pods {
		if pods[i].Status.Phase == corev1.PodFailed {
			parts = append(parts, "pod "+pods[i].Name+": "+failureReason(&pods[i]))
		}
	}
	if len(parts) == 0 {
		return "no reason given"
	}
	return strings.Join(parts, "; ")
}

// stopJob deletes the Job and, by propagation, its pods after ctx ended,
// unless the client is shutting down.
func (k *PodOperator) stopJob(ctx context.Context, tc *aiflow.TaskContext, jobs typedbatchv1.JobInterface, name string) error {
	cause := context.Cause(ctx)
	if aiflow.Interrupted(ctx) {
		fmt.Fprintf(tc.Log, "aiflow: the client is shutting down: Job %s/%s keeps running for the next attempt\n", k.cfg.Namespace, name)
		return fmt.Errorf("kubernetes: Job %s left running: %w", name, cause)
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), podDeleteTimeout)
	defer cancel()
	propagation := metav1.DeletePropagationBackground
	err := jobs.Delete(dctx, name, metav1.DeleteOptions{PropagationPolicy: &propagation})
	if err != nil && !apierrors.IsNotFound(err) {
		return errors.Join(fmt.Errorf("kubernetes: %w", cause), fmt.Errorf("kubernetes: deleting Job %s/%s: %w", k.cfg.Namespace, name, err))
	}
	fmt.Fprintf(tc.Log, "aiflow: deleted Job %s/%s and its pods (%v)\n", k.cfg.Namespace, name, cause)
	return fmt.Errorf("kubernetes: Job %s deleted: %w", name, cause)
}
