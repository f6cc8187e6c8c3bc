namespace Hyperlxd.Cli;

/// <summary>A failure the user should see as <c>Error: message</c> with exit code 1.</summary>
public class CliException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Bad command line: the runner prints the message plus usage and exits with 2.</summary>
public sealed class UsageException(string message, string? usage = null) : Exception(message)
{
    public string? Usage { get; } = usage;
}

/// <summary>An LXD error envelope (or failed operation); <see cref="StatusCode"/> is the HTTP/LXD code.</summary>
public sealed class ApiException(string message, int statusCode) : CliException(message)
{
    public int StatusCode { get; } = statusCode;
}
