"""Human interaction: wait for an "Approval" event or a durable timer, whichever comes first."""

from datetime import timedelta

import azure.durable_functions as df


def orchestrator_function(context: df.DurableOrchestrationContext):
    context.set_custom_status("waiting for approval")
    deadline = context.current_utc_datetime + timedelta(hours=1)
    timer = context.create_timer(deadline)
    approval = context.wait_for_external_event("Approval")
    winner = yield context.task_any([approval, timer])
    if winner == approval:
        timer.cancel()
        return {"approved": approval.result}
    return {"approved": None}


main = df.Orchestrator.create(orchestrator_function)
