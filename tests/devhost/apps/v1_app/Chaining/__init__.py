"""Function chaining: one activity after another, each fed the previous result."""

import azure.durable_functions as df


def orchestrator_function(context: df.DurableOrchestrationContext):
    first = yield context.call_activity("Greet", "Tokyo")
    second = yield context.call_activity("Greet", first)
    third = yield context.call_activity("Greet", "London")
    return [first, second, third]


main = df.Orchestrator.create(orchestrator_function)
