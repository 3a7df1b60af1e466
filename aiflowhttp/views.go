package aiflowhttp

import (
	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/internal/view"
)

// The served shapes of the client's types: each converts the public type to
// view's record of the same fields (a type conversion) and formats it.

func eventView(ev aiflow.Event) view.Event {
	return view.NewEvent(view.EventRecord[aiflow.Position](ev))
}

func workflowView(w aiflow.WorkflowInfo) view.Workflow {
	return view.NewWorkflow(view.WorkflowRecord(w))
}

func workflowDetailView(w aiflow.WorkflowInfo, vers []aiflow.WorkflowVersion) view.Workflow {
	return view.NewWorkflowDetail(view.WorkflowRecord(w), view.Map(vers, func(v aiflow.WorkflowVersion) view.WorkflowVersionRecord {
		return view.WorkflowVersionRecord(v)
	}))
}

func executionView(x aiflow.WorkflowExecution) view.Execution {
	return view.NewExecution(view.ExecutionRecord[aiflow.WorkflowStatus, aiflow.RunType](x))
}

func taskExecutionView(te aiflow.TaskExecution) view.TaskExecution {
	return view.NewTaskExecution(view.TaskExecutionRecord[aiflow.TaskStatus](te))
}
