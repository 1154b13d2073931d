"""The parameter's name is not the binding's: the v1 runtime refuses to load the function."""


def main(city: str) -> str:
    return f"Hello {city}!"
