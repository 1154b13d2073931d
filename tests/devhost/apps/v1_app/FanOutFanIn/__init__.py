"""Fan-out/fan-in: one activity per name, all at once, then their results together."""

import azure.durable_functions as df


def orchestrator_function(context: df.DurableOrchestrationContext):
    names = context.get_input() or []
    results = yield context.task_all([context.call_activity("Greet", n) for n in names])
    return {"count": len(results), "greetings": results}


main = df.Orchestrator.create(orchestrator_function)
