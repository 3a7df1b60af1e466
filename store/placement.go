package store

// Placement says in which partition a store places workflows, workflow
// executions and events. Partitions is the number of partitions. SpreadFrom
// is the smallest workflow execution id that the store spreads over the
// partitions (see [Placement.Execution]); executions with a smaller id (made
// before the store began to spread them) stay in their workflow's partition,
// and 0 spreads none, which places everything as [PartitionOf] does.
//
// A workflow's partition holds its workflow-level state: its triggers, its
// schedule ticks, its enabled flag and its count of running executions. An
// execution's partition holds the execution: its start request, its task
// status events, its stop, task and periodic control events. Enabling and
// disabling a workflow concerns every partition that may hold one of its
// executions, so those control events belong to no partition: every
// partition reads them, whatever user keys its consumer reads (see
// [IsBroadcastControl] and [ConsumeParams].UserKeys).
type Placement struct {
	Partitions int
	SpreadFrom int64
}

// Spreads reports whether the placement puts some executions outside their
// workflow's partition.
func (p Placement) Spreads() bool { return p.SpreadFrom > 0 && p.Partitions > 1 }

// Workflow is the partition of workflow name in namespace: [PartitionOf].
func (p Placement) Workflow(namespace, name string) int {
	return PartitionOf(namespace, name, p.Partitions)
}

// Execution is the partition of the workflow execution id of workflow in
// namespace. When the placement spreads it (id at least SpreadFrom), the
// executions of one workflow take the partitions in turn by id, starting
// after the workflow's own: consecutive ids land in consecutive partitions.
// Otherwise it is the workflow's partition.
func (p Placement) Execution(namespace, workflow string, id int64) int {
	w := PartitionOf(namespace, workflow, p.Partitions)
	if !p.Spreads() || id < p.SpreadFrom {
		return w
	}
	n := uint64(p.Partitions)
	return int((uint64(w) + uint64(id)%n) % n)
}

// Event is the partition an appended event belongs to, -1 for none (every
// partition may read it): user events and, when the placement spreads,
// the enabling and disabling of a workflow belong to none; a workflow's
// status events (the key [WorkflowStatusKey]) and the control events of no
// execution belong to their workflow's partition; the other status and
// control events that name an execution belong to the execution's.
func (p Placement) Event(ev *Event) int {
	switch {
	case ev.Kind == KindUser || ev.Workflow == "":
		return -1
	case p.Spreads() && IsBroadcastControl(ev):
		return -1
	case ev.ExecutionID != 0 && !(ev.Kind == KindStatus && IsWorkflowStatusKey(ev.Key)):
		return p.Execution(ev.Namespace, ev.Workflow, ev.ExecutionID)
	}
	return PartitionOf(ev.Namespace, ev.Workflow, p.Partitions)
}

// Target is the partition of the execution that a user event is addressed
// to, -1 when it is addressed to none. A user event is addressed to an
// execution when it names one (ExecutionID) and is not sent to the whole
// namespace (Broadcast): of the executions, only that one applies it. When it
// also names the execution's workflow (Workflow, as the client and the SQL
// function send_event set it), its partition is [Placement.Execution]'s, and
// a consumer of another partition needs it only for the namespace's workflow
// triggers (see [ConsumeParams].AddressedKeys); otherwise Target is -1 too.
// The event itself belongs to no partition whatever its target
// ([Placement.Event]).
func (p Placement) Target(ev *Event) int {
	if ev.Kind != KindUser || ev.ExecutionID == 0 || ev.Broadcast || ev.Workflow == "" {
		return -1
	}
	return p.Execution(ev.Namespace, ev.Workflow, ev.ExecutionID)
}

// IsBroadcastControl reports whether ev is a control event that every
// partition holding executions of its workflow must read in log order (the
// enabling and disabling of the workflow), so that a store that spreads
// executions places it in no partition, and every partition's consumer reads
// it, even one whose process registers no workflow of its namespace (the
// next consumer of the partition may).
func IsBroadcastControl(ev *Event) bool {
	return ev.Kind == KindControl && (ev.Key == KeyEnableWorkflow || ev.Key == KeyDisableWorkflow)
}
