"""Formats of .NET that the host, the Durable extension and Application Insights all read."""
