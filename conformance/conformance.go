package conformance

import (
	"testing"
	"time"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/store"
)

// Factory returns a fresh, empty store for one test. The store is closed by
// the suite when the test ends.
type Factory func(t *testing.T) store.Store

// waitTimeout bounds every wait of the suite.
const waitTimeout = 60 * time.Second

type conformanceTest struct {
	name   string
	adjust func(t *testing.T, c *aiflow.Config)
	fn     func(t *testing.T, b *bed)
}

// Run runs every conformance test, in parallel, each on a store from
// newStore.
func Run(t *testing.T, newStore Factory) {
	tests := []conformanceTest{
		{name: "Rules/StartAfterFollowsTheLatestRuns", fn: testStartAfterLatestRuns},
		{name: "Rules/OnTaskStatusWithOtherStatusesAndActions", fn: testOnTaskStatus},
		{name: "Rules/OnEventStartStopRestart", fn: testOnEvent},
		{name: "Rules/OnConditionStateIsPerExecution", fn: testConditionStatePerExecution},
		{name: "Rules/FirstMetRuleWins", fn: testFirstMetRuleWins},
		{name: "Rules/TasksWithoutStartRuleStartWithTheExecution", fn: testTasksWithoutStartRule},
		{name: "Conditions/AllOfFlagsArePerRuleAndPerExecutionAndFollowTheLatestEvaluation", fn: testAllOf},
		{name: "Conditions/AnyOfIsMetByAnyConditionExpectingTheKey", fn: testAnyOf},
		{name: "Conditions/TaskStatusConditionReadsTheLatestRuns", fn: testTaskStatusCondition},
		{name: "Actions/StartWhileAliveIsIgnoredWithAVisibleReason", fn: testStartIgnoredWhileAlive},
		{name: "Actions/StoppingCountsAsAlive", fn: testStoppingIsAlive},
		{name: "Actions/RestartDispatchesTheNewRunOnlyAfterTheOldStopped", fn: testRestartWaitsForStop},
		{name: "Actions/StopOnANonAliveTaskIsANoOp", fn: testStopNonAliveNoOp},
		{name: "Actions/StopAQueuedTask", fn: testStopQueued,
			adjust: func(_ *testing.T, c *aiflow.Config) { c.Store = &heldWorkers{Store: c.Store} }},
		{name: "Routing/EventsFromATaskReachOnlyItsExecution", fn: testScopedEvents},
		{name: "Routing/StatusChangesReachOnlyTheirExecution", fn: testStatusChangesStayInTheirExecution},
		{name: "Routing/EventsWithoutExecutionReachRunningExecutionsOfTheNamespace", fn: testNamespaceWideEvents},
		{name: "Routing/ExplicitBroadcastFromATask", fn: testBroadcastFromTask},
		{name: "Routing/DisabledWorkflowIsStartedByNothingAndItsExecutionsGoOn", fn: testDisabledWorkflow},
		{name: "Routing/AConsumerReadsOnlyItsUserKeysAndMovesPastTheOthers", fn: testConsumerReadsOnlyItsUserKeys},
		{name: "Routing/AnEventAddressedToAnExecutionIsReadByItsPartitionAndByTriggers", fn: testConsumerReadsAddressedEventsInTheirPartition},
		{name: "Spread/ExecutionsLandInSeveralPartitionsAndKeyedEventsAndStopAllReachThem", fn: testSpreadExecutionsKeyedEventsAndStopAll},
		{name: "Spread/ATriggerStartsOneExecutionPerFiringInOtherPartitions", fn: testSpreadTriggerStartsOnePerFiring},
		{name: "Spread/DisablingReachesTheExecutionsOfEveryPartition", fn: testSpreadDisabledWorkflowReachesEveryPartition},
		{name: "Spread/AnEventSentRightAfterAStartReachesTheExecution", fn: testSpreadEventRightAfterAStart},
		{name: "Spread/DisablingReachesPartitionsConsumedByAClientThatRegistersNothing", fn: testSpreadTogglingReachesClientsThatRegisterNothing},
		{name: "Spread/ATriggerSeesAnEventAddressedToAnExecutionOfAnotherPartition", fn: testSpreadTriggerSeesAddressedEvents},
		{name: "Status/SuccessWhenEverythingSucceeded", fn: testExecutionSuccess},
		{name: "Status/FailedDoesNotDependOnDeclarationOrder", fn: testExecutionFailedOrderIndependent},
		{name: "Status/NoHangWhenADownstreamTaskCanNoLongerStart", fn: testNoHang},
		{name: "Status/WaitingForAnOutsideEventKeepsRunning", fn: testWaitingKeepsRunning},
		{name: "Status/StreamingTaskKeepsRunningUntilStopped", fn: testStreamingKeepsRunning},
		{name: "Status/StoppedOnRequest", fn: testStoppedOnRequest},
		{name: "Status/FinishedExecutionsIgnoreEvents", fn: testFinishedIgnoresEvents},
		{name: "Tasks/RetriesShowRetryingAndStopAtMaxAttempts", fn: testRetries},
		{name: "Tasks/RetryBackoffDelaysTheNextAttempt", fn: testRetryBackoff},
		{name: "Tasks/TimeoutFailsTheAttempt", fn: testTimeout},
		{name: "Tasks/ErrorsAndPanicsFail", fn: testErrorsAndPanics},
		{name: "Tasks/SequenceNumbersAreDense", fn: testDenseSequenceNumbers},
		{name: "Tasks/AFinishedStatusIsFinalAndLateReportsAreRefused", fn: testLateReportsRefused},
		{name: "Tasks/LogsAndProgressAreReadable", fn: testLogsAndProgress},
		{name: "Tasks/ProgressReportedWhileStoppingIsKept", fn: testProgressWhileStopping},
		{name: "Tasks/TimedOutAttemptsAreRetriedAndShareOneLog", fn: testTimeoutRetriesShareTheLog},
		{name: "LostWorkers/TheAttemptRunsAgain", fn: testLostWorkerRunsTheAttemptAgain},
		{name: "LostWorkers/BeyondTheLimitTheTaskFails", fn: testLostWorkersBeyondTheLimitFail,
			adjust: func(_ *testing.T, c *aiflow.Config) { c.MaxInterruptions = maxInterruptions }},
		{name: "LostWorkers/InterruptionsDoNotConsumeTheRetryPolicy", fn: testInterruptionsDoNotConsumeRetries},
		{name: "LostWorkers/AStreamingTaskIsRestarted", fn: testStreamingTaskWithALostWorkerIsRestarted},
		{name: "Logs/RetentionPrunesTheLogsOfFinishedTasks", fn: testLogRetention,
			adjust: func(_ *testing.T, c *aiflow.Config) { c.TaskLogRetention = logRetention }},
		{name: "Logs/KeptInADirectory", fn: testLogDir,
			adjust: func(t *testing.T, c *aiflow.Config) { c.TaskLogDir = t.TempDir() }},
		{name: "Conditions/PoisonConditionIsSkippedAndRecorded", fn: testPoisonCondition,
			adjust: func(_ *testing.T, c *aiflow.Config) { c.PoisonAttempts = 2 }},
		{name: "Namespaces/AddListDeleteAndIsolation", fn: testNamespaces},
		{name: "Events/ListAndListenFromAPositionNeverMissOrRepeat", fn: testListenFromPosition},
		{name: "Events/ValueSizeLimit", fn: testEventSizeLimit},
		{name: "Events/SendAsATaskExecutionAndCount", fn: testSendAsTaskExecution},
		{name: "Events/IdempotencyKeyAppendsOnce", fn: testIdempotentSendEvent},
		{name: "Executions/IdempotencyKeyStartsOnce", fn: testIdempotentStart},
		{name: "Executions/StopAllAndDelete", fn: testStopAllAndDeleteExecutions},
		{name: "Executions/ListPagesByIDAndCreationTime", fn: testListExecutionPages},
		{name: "Executions/KeepTheDefinitionVersionTheyBeganWith", fn: testExecutionKeepsItsVersion},
		{name: "Executions/StartManyInOneCall", fn: testStartManyExecutions},
		{name: "Shutdown/GracefulStopDrainsAndInterrupts", fn: testGracefulStop},
		{name: "Shutdown/TasksOutlivingStopTimeoutAreCancelledAndRunAgain", fn: testStopTimeoutCancels,
			adjust: func(_ *testing.T, c *aiflow.Config) { c.StopTimeout = stopTimeout }},
		{name: "Schedules/TicksStartPeriodicExecutions", fn: testScheduleStartsPeriodicExecutions},
		{name: "Schedules/SkipOverlapAndDisabledWorkflows", fn: testScheduleSkipsOverlapAndDisabled},
		{name: "Schedules/PeriodicTaskRunsDownstreamAfterEachTick", fn: testPeriodicTaskRunsDownstreamAfterEachTick},
		{name: "Schedules/CatchUpFiresTheLatestMissedTicksAndRecordsTheOthers", fn: testScheduleCatchUp},
		{name: "Schedules/ResumeFiresNoTickThatFellDueWhilePaused", fn: testScheduleResumeFiresNoPausedTick},
		{name: "Triggers/StatefulTriggerStartsEventExecutions", fn: testTriggerWithStateStartsEventExecutions},
		{name: "Triggers/SeeEventsFromOtherWorkflowsExecutions", fn: testTriggerSeesOtherWorkflowsEvents},
		{name: "Timers/PruneFiringsKeepsTheLatestOfLiveTimers", fn: testPruneFirings},
		{name: "API/AnExecutionIDImpliesItsNamespace", fn: testExecutionIDImpliesNamespace},
		{name: "API/TaskSendEventTakesTheClientsOptions", fn: testTaskSendOptions},
		{name: "API/ListenStopsAfterMaxEvents", fn: testListenStopsAfterMax},
		{name: "API/TaskExecutionsListInRunOrderAndFilterBySeqNum", fn: testTaskExecutionsInRunOrder},
		{name: "API/ScheduleFormsEveryCrontabAndDescriptors", fn: testScheduleForms},
		{name: "API/PeriodicTaskOnEvery", fn: testPeriodicEvery},
		{name: "API/ClientRunUntilTheContextEnds", fn: testClientRun},
		{name: "API/ExecutionInputReachesTasksConditionsAndTheAPI", fn: testExecutionInput},
		{name: "Why/StartsConditionFalseTaskAliveAndRestart", fn: testWhyStartsConditionFalseAndAlive},
		{name: "Why/EvaluationsAreBoundedAndDeletedWithTheExecution", fn: testWhyEvaluationsAreBounded},
		{name: "Why/ConditionFailed", fn: testWhyPoison,
			adjust: func(_ *testing.T, c *aiflow.Config) { c.PoisonAttempts = 1 }},
		{name: "Why/WorkflowDisabled", fn: testWhyWorkflowDisabled},
		{name: "Why/EventsThatMissedTheRules", fn: testWhyMissedEvents},
		{name: "Replay/AChangedConditionShowsItsDifference", fn: testReplayShowsAChangedCondition},
		{name: "Retention/PruneKeepsRecentUnconsumedAndRunningRecords", fn: testPruneKeepsRecentUnconsumedAndRunning,
			adjust: func(_ *testing.T, c *aiflow.Config) { c.Retention = &aiflow.Retention{} }},
		{name: "Retention/AnEventGoesOnceEveryPartitionReadingItConsumedIt", fn: testPruneWaitsForEveryPartition},
		{name: "Retention/TheLeaderPrunesOldRecords", fn: testLeaderPrunes,
			adjust: func(_ *testing.T, c *aiflow.Config) {
				c.Retention = &aiflow.Retention{Executions: leaderRetention, Events: leaderRetention}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBed(t, newStore, tc.adjust)
			tc.fn(t, b)
		})
	}
}
