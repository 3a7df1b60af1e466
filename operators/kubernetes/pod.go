package kubernetes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/aiflow-go/aiflow"
)

// Labels that Pod puts on its pods. Label values are the task's
// values made label-safe; the annotations of the same names hold the raw
// values. Together they tie a pod to its task execution, so that an attempt
// finds the pod of an interrupted attempt instead of creating a second one.
const (
	LabelNamespace       = "aiflow.io/namespace"
	LabelWorkflow        = "aiflow.io/workflow"
	LabelExecutionID     = "aiflow.io/execution-id"
	LabelTask            = "aiflow.io/task"
	LabelSeqNum          = "aiflow.io/seq"
	LabelTaskExecutionID = "aiflow.io/task-execution-id"
	// LabelAttempt is the attempt that created the pod.
	LabelAttempt = "aiflow.io/attempt"
)

// Defaults of PodConfig.
const (
	NamespaceDefault    = "default"
	PollIntervalDefault = 2 * time.Second
	// LogDrainDefault is how long the pod's log may go on being
	// copied after the pod has ended.
	LogDrainDefault = 10 * time.Second
)

// PodConfig configures a task that runs as a Kubernetes pod or
// Job. Client and exactly one of Pod and Job are required.
type PodConfig struct {
	// Client talks to the cluster: kubernetes.NewForConfig(restConfig) in
	// production, fake.NewClientset() in tests. Required.
	Client kubernetes.Interface
	// Pod is the template of the pods: its spec (at least one container),
	// labels and annotations. Its name is replaced by one derived from the
	// task execution. Set Pod or Job.
	Pod *corev1.Pod
	// Job is the template of a batch/v1 Job to run instead of a bare pod,
	// so that Kubernetes retries failed pods (spec.backoffLimit), runs
	// several (spec.completions, spec.parallelism) and applies the Job's
	// deadlines: its spec (a pod template with at least one container),
	// labels and annotations. Its name is replaced by one derived from the
	// task execution. Set Pod or Job.
	Job *batchv1.Job
	// Namespace is where pods and Jobs are created; the template's
	// namespace, else NamespaceDefault ("default"), when empty.
	Namespace string
	// LogContainer is the container whose log is copied into the task log;
	// the first container when empty.
	LogContainer string
	// PollInterval is how often the pod's phase (the Job's status) is
	// read; PollIntervalDefault (2 s) when zero.
	PollInterval time.Duration
	// Streaming marks a pod or Job that never ends by itself (a model
	// server): its task is a streaming task.
	Streaming bool
}

// PodOperator runs a task as a pod or a Job. Create it with
// Pod.
type PodOperator struct {
	aiflow.OperatorDefaults
	cfg PodConfig
}

// Pod returns an operator that runs each task execution as a pod
// created from a template, with client-go:
//
//   - the pod is named after the task execution and attempt, labelled and
//     annotated with the task's namespace, workflow, execution id, task,
//     sequence number, task execution id and attempt (the Label constants),
//     its restart policy defaults to Never, and every container gets the
//     task's environment (AIFLOW_* context variables and WithEnv variables);
//   - an attempt first looks for a pod of its task execution that has not
//     failed and adopts it (the pod of an attempt interrupted by a client
//     shutdown keeps running, see aiflow.Interrupted), so a restarted
//     process never runs the work twice; the log of an adopted pod is copied
//     again from its start;
//   - the pod's phase is followed every poll interval and reported as the
//     task's status message; its log is streamed into the task log once its
//     containers have started; Succeeded is a successful task, Failed a
//     failed one with the containers' termination reasons;
//   - when the task is stopped or times out the pod is deleted; when the
//     client shuts down it is left running for the next attempt.
//
// Pods that ended are left in place for inspection; delete them with the
// labels when they are no longer wanted.
//
// With a Job template instead of a Pod, each task execution runs as a Job
// the same way: named, labelled and annotated like a pod (its pod template
// gets the labels and the task's environment too, and a restart policy of
// Never by default), adopted after a shutdown unless it failed, followed
// until its Complete or Failed condition (the status message says Pending,
// Active, Succeeded or Failed; a failure gives the condition's reason and
// the containers' termination reasons), with the log of each of its pods
// streamed into the task log as the pod starts. A stopped or timed-out
// task's Job is deleted with propagation (background), so that its pods go
// with it.
func Pod(cfg PodConfig) *PodOperator {
	if cfg.Namespace == "" && cfg.Pod != nil {
		cfg.Namespace = cfg.Pod.Namespace
	}
	if cfg.Namespace == "" && cfg.Job != nil {
		cfg.Namespace = cfg.Job.Namespace
	}
	if cfg.Namespace == "" {
		cfg.Namespace = NamespaceDefault
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = PollIntervalDefault
	}
	if cfg.Pod != nil {
		cfg.Pod = cfg.Pod.DeepCopy()
	}
	if cfg.Job != nil {
		cfg.Job = cfg.Job.DeepCopy()
	}
	return &PodOperator{cfg: cfg}
}

// Validate checks the client and the template.
func (k *PodOperator) Validate() error {
	switch {
	case k.cfg.Client == nil:
		return errors.New("kubernetes.Pod: Client is nil: expected a kubernetes.Interface")
	case k.cfg.Pod != nil && k.cfg.Job != nil:
		return errors.New("kubernetes.Pod: both Pod and Job are set: expected one template")
	case k.cfg.Job != nil:
		spec := &k.cfg.Job.Spec.Template.Spec
		if len(spec.Containers) == 0 {
			return errors.New("kubernetes.Pod: the Job template's pod template has no container")
		}
		if p := spec.RestartPolicy; p != "" && p != corev1.RestartPolicyNever && p != corev1.RestartPolicyOnFailure {
			return fmt.Errorf("kubernetes.Pod: the Job template's restart policy is %q: expected Never or OnFailure", p)
		}
	case k.cfg.Pod == nil:
		return errors.New("kubernetes.Pod: Pod and Job are nil: expected a Pod or a Job template")
	case len(k.cfg.Pod.Spec.Containers) == 0:
		return errors.New("kubernetes.Pod: the Pod template has no container")
	}
	return nil
}

// Streaming reports PodConfig.Streaming.
func (k *PodOperator) Streaming() bool { return k.cfg.Streaming }

// Describe names the namespace, Job mode and the containers' images and
// commands.
func (k *PodOperator) Describe() string {
	parts := []string{"namespace=" + k.cfg.Namespace}
	var containers []corev1.Container
	switch {
	case k.cfg.Job != nil:
		parts = append(parts, "job")
		containers = k.cfg.Job.Spec.Template.Spec.Containers
	case k.cfg.Pod != nil:
		containers = k.cfg.Pod.Spec.Containers
	}
	for _, c := range containers {
		parts = append(parts, fmt.Sprintf("%s=%s %s %s", c.Name, c.Image, strings.Join(c.Command, " "), strings.Join(c.Args, " ")))
	}
	return strings.Join(parts, "; ")
}

// identity returns the labels and annotations of tc's pods.
func identity(tc *aiflow.TaskContext) (labels, annotations map[string]string) {
	annotations = map[string]string{
		LabelNamespace:       tc.Namespace,
		LabelWorkflow:        tc.Workflow,
		LabelExecutionID:     strconv.FormatInt(tc.ExecutionID, 10),
		LabelTask:            tc.Task,
		LabelSeqNum:          strconv.Itoa(tc.SeqNum),
		LabelTaskExecutionID: strconv.FormatInt(tc.TaskExecutionID, 10),
		LabelAttempt:         strconv.Itoa(tc.Attempt),
	}
	labels = make(map[string]string, len(annotations))
	for k, v := range annotations {
		labels[k] = labelValue(v)
	}
	return labels, annotations
}

var labelUnsafe = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// labelValue makes s a valid label value: at most 63 characters of
// [A-Za-z0-9._-], starting and ending with an alphanumeric. A changed or
// shortened value gets a hash suffix so that distinct values stay distinct.
func labelValue(s string) string {
	v := strings.Trim(labelUnsafe.ReplaceAllString(s, "-"), "._-")
	if v == s && len(v) <= 63 {
		return v
	}
	sum := sha256.Sum256([]byte(s))
	suffix := hex.EncodeToString(sum[:4])
	if len(v) > 54 {
		v = strings.TrimRight(v[:54], "._-")
	}
	if v == "" {
		return suffix
	}
	return v + "-" + suffix
}

var nameUnsafe = regexp.MustCompile(`[^a-z0-9-]+`)

// podName is "<workflow>-<task>-<task execution id>-<attempt>" as a DNS
// label; Jobs are named the same way.
func podName(tc *aiflow.TaskContext) string {
	suffix := fmt.Sprintf("-%d-%d", tc.TaskExecutionID, tc.Attempt)
	prefix := strings.Trim(nameUnsafe.ReplaceAllString(strings.ToLower(tc.Workflow+"-"+tc.Task), "-"), "-")
	if max := 63 - len(suffix); len(prefix) > max {
		prefix = strings.TrimRight(prefix[:max], "-")
	}
	if prefix == "" {
		prefix = "aiflow"
	}
	return prefix + suffix
}

// Run creates or adopts the task execution's pod and follows it until it
// ends or ctx ends.
func (k *PodOperator) Run(ctx context.Context, tc *aiflow.TaskContext) error {
	if err := k.Validate(); err != nil {
		return err
	}
	if k.cfg.Job != nil {
		return k.runJob(ctx, tc)
	}
	pods := k.cfg.Client.CoreV1().Pods(k.cfg.Namespace)
	name, err := k.findOrCreate(ctx, tc, pods)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("kubernetes: %w", context.Cause(ctx))
		}
		return err
	}
	return k.follow(ctx, tc, pods, name)
}

func (k *PodOperator) findOrCreate(ctx context.Context, tc *aiflow.TaskContext, pods typedcorev1.PodInterface) (string, error) {
	labels, annotations := identity(tc)
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: LabelTaskExecutionID + "=" + labels[LabelTaskExecutionID]})
	if err != nil {
		return "", fmt.Errorf("kubernetes: listing the pods of task execution %d: %w", tc.TaskExecutionID, err)
	}
	var found *corev1.Pod
	for i := range list.Items {
		p := &list.Items[i]
		if !sameTaskExecution(p.Annotations, annotations) || p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if found == nil || p.CreationTimestamp.After(found.CreationTimestamp.Time) {
			found = p
		}
	}
	if found != nil {
		fmt.Fprintf(tc.Log, "aiflow: adopting pod %s/%s (created by attempt %s, %s)\n", k.cfg.Namespace, found.Name,
			found.Annotations[LabelAttempt], phaseOf(found))
		return found.Name, nil
	}
	pod := k.cfg.Pod.DeepCopy()
	pod.ObjectMeta = metav1.ObjectMeta{
		Name: podName(tc), Namespace: k.cfg.Namespace,
		Labels:      merge(pod.Labels, labels),
		Annotations: merge(pod.Annotations, annotations),
	}
	if pod.Spec.RestartPolicy == "" {
		pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	}
	setTaskEnv(&pod.Spec, tc)
	created, err := pods.Create(ctx, pod, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		fmt.Fprintf(tc.Log, "aiflow: pod %s/%s exists already: adopting it\n", k.cfg.Namespace, pod.Name)
		return pod.Name, nil
	}
	if err != nil {
		return "", fmt.Errorf("kubernetes: creating pod %s/%s: %w", k.cfg.Namespace, pod.Name, err)
	}
	fmt.Fprintf(tc.Log, "aiflow: created pod %s/%s\n", k.cfg.Namespace, created.Name)
	return created.Name, nil
}

func sameTaskExecution(got, want map[string]string) bool {
	for _, k := range []string{LabelNamespace, LabelWorkflow, LabelExecutionID, LabelTask, LabelSeqNum, LabelTaskExecutionID} {
		if got[k] != want[k] {
			return false
		}
	}
	return true
}

func merge(base, over map[string]string) map[string]string {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, over)
	return out
}

// setTaskEnv gives every container of spec the task's environment.
func setTaskEnv(spec *corev1.PodSpec, tc *aiflow.TaskContext) {
	env := tc.TaskEnvMap()
	for i := range spec.InitContainers {
		spec.InitContainers[i].Env = withEnv(spec.InitContainers[i].Env, env)
	}
	for i := range spec.Containers {
		spec.Containers[i].Env = withEnv(spec.Containers[i].Env, env)
	}
}

// withEnv sets the variables of env on a container's, replacing those of the
// same names.
func withEnv(vars []corev1.EnvVar, env map[string]string) []corev1.EnvVar {
	out := slices.DeleteFunc(slices.Clone(vars), func(v corev1.EnvVar) bool { _, ok := env[v.Name]; return ok })
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, corev1.EnvVar{Name: k, Value: env[k]})
	}
	return out
}

func phaseOf(p *corev1.Pod) corev1.PodPhase {
	if p.Status.Phase == "" {
		return corev1.PodPending
	}
	return p.Status.Phase
}

// podErrorsMax is how many failed reads of the pod in a row fail the task.
const podErrorsMax = 5

func (k *PodOperator) follow(ctx context.Context, tc *aiflow.TaskContext, pods typedcorev1.PodInterface, name string) error {
	t := time.NewTicker(k.cfg.PollInterval)
	defer t.Stop()
	logCtx, stopLog := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLog()
	var logDone chan struct{}
	var phase corev1.PodPhase
	errorsInARow := 0
	for {
		pod, err := pods.Get(ctx, name, metav1.GetOptions{})
		switch {
		case ctx.Err() != nil:
		case apierrors.IsNotFound(err):
			return fmt.Errorf("kubernetes: pod %s/%s was deleted outside the task", k.cfg.Namespace, name)
		case err != nil:
			errorsInARow++
			fmt.Fprintf(tc.Log, "aiflow: reading pod %s/%s failed (%d in a row): %v\n", k.cfg.Namespace, name, errorsInARow, err)
			if errorsInARow >= podErrorsMax {
				return fmt.Errorf("kubernetes: reading pod %s/%s failed %d times in a row: %w", k.cfg.Namespace, name, errorsInARow, err)
			}
		default:
			errorsInARow = 0
			if p := phaseOf(pod); p != phase {
				phase = p
				fmt.Fprintf(tc.Log, "aiflow: pod %s/%s is %s\n", k.cfg.Namespace, name, phase)
				if err := tc.ReportStatus(ctx, "pod "+name+": "+string(phase)); err != nil {
					tc.Logger.Warn("reporting the pod's phase failed", "error", err)
				}
			}
			if logDone == nil && phase != corev1.PodPending && phase != corev1.PodUnknown {
				logDone = make(chan struct{})
				go k.copyLog(logCtx, tc, pods, pod, logDone)
			}
			if phase == corev1.PodSucceeded || phase == corev1.PodFailed {
				k.drainLog(stopLog, logDone)
				if phase == corev1.PodFailed {
					return fmt.Errorf("kubernetes: pod %s/%s failed: %s", k.cfg.Namespace, name, failureReason(pod))
				}
				return nil
			}
		}
		select {
		case <-ctx.Done():
			stopLog()
			if logDone != nil {
				<-logDone
			}
			return k.stop(ctx, tc, pods, name)
		case <-t.C:
		}
	}
}

// drainLog waits for the log copies done to end, at most
// LogDrainDefault, and then stops them.
func (k *PodOperator) drainLog(stop func(), done ...chan struct{}) {
	t := time.NewTimer(LogDrainDefault)
	defer t.Stop()
	for _, d := range done {
		if d == nil {
			continue
		}
		select {
		case <-d:
		case <-t.C:
			stop()
			<-d
		}
	}
}

// copyLog streams the log container's log into the task log.
func (k *PodOperator) copyLog(ctx context.Context, tc *aiflow.TaskContext, pods typedcorev1.PodInterface, pod *corev1.Pod, done chan struct{}) {
	defer close(done)
	container := k.cfg.LogContainer
	if container == "" && len(pod.Spec.Containers) > 0 {
		container = pod.Spec.Containers[0].Name
	}
	rc, err := pods.GetLogs(pod.Name, &corev1.PodLogOptions{Container: container, Follow: true}).Stream(ctx)
	if err != nil {
		if ctx.Err() == nil {
			fmt.Fprintf(tc.Log, "aiflow: reading the log of pod %s failed: %v\n", pod.Name, err)
		}
		return
	}
	defer rc.Close()
	if _, err := io.Copy(tc.Log, rc); err != nil && ctx.Err() == nil {
		fmt.Fprintf(tc.Log, "\naiflow: reading the log of pod %s failed: %v\n", pod.Name, err)
	}
}

// failureReason describes why a pod failed.
func failureReason(pod *corev1.Pod) string {
	var parts []string
	if pod.Status.Reason != "" || pod.Status.Message != "" {
		parts = append(parts, strings.TrimSpace(pod.Status.Reason+" "+pod.Status.Message))
	}
	for _, cs := range append(slices.Clone(pod.Status.InitContainerStatuses), pod.Status.ContainerStatuses...) {
		if term := cs.State.Terminated; term != nil && term.ExitCode != 0 {
			parts = append(parts, strings.TrimSpace(fmt.Sprintf("container %s exited with code %d %s %s", cs.Name, term.ExitCode, term.Reason, term.Message)))
		}
	}
	if len(parts) == 0 {
		return "no reason given"
	}
	return strings.Join(parts, "; ")
}

// podDeleteTimeout bounds the deletion of a stopped task's pod.
const podDeleteTimeout = 30 * time.Second

// stop deletes the pod after ctx ended, unless the client is shutting down.
func (k *PodOperator) stop(ctx context.Context, tc *aiflow.TaskContext, pods typedcorev1.PodInterface, name string) error {
	cause := context.Cause(ctx)
	if aiflow.Interrupted(ctx) {
		fmt.Fprintf(tc.Log, "aiflow: the client is shutting down: pod %s/%s keeps running for the next attempt\n", k.cfg.Namespace, name)
		return fmt.Errorf("kubernetes: pod %s left running: %w", name, cause)
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), podDeleteTimeout)
	defer cancel()
	err := pods.Delete(dctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return errors.Join(fmt.Errorf("kubernetes: %w", cause), fmt.Errorf("kubernetes: deleting pod %s/%s: %w", k.cfg.Namespace, name, err))
	}
	fmt.Fprintf(tc.Log, "aiflow: deleted pod %s/%s (%v)\n", k.cfg.Namespace, name, cause)
	return fmt.Errorf("kubernetes: pod %s deleted: %w", name, cause)
}
