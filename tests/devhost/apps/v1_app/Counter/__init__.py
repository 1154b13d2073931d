"""The Counter entity, function-based."""

import azure.durable_functions as df


def entity_function(context: df.DurableEntityContext):
    current = context.get_state(lambda: 0)
    if context.operation_name == "add":
        current += context.get_input()
    elif context.operation_name == "get":
        context.set_result(current)
    context.set_state(current)


main = df.Entity.create(entity_function)
