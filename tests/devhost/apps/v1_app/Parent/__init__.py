"""A sub-orchestration with its own instance id, and an entity the orchestration calls."""

import azure.durable_functions as df


def orchestrator_function(context: df.DurableOrchestrationContext):
    chained = yield context.call_sub_orchestrator(
        "Chaining", None, f"{context.instance_id}:chain")
    counter = df.EntityId("Counter", context.instance_id)
    context.signal_entity(counter, "add", len(chained))
    total = yield context.call_entity(counter, "get")
    return {"chained": chained, "counter": total}


main = df.Orchestrator.create(orchestrator_function)
