namespace Hyperlxd.Core;

/// <summary>
/// The exception family every layer throws; the daemon maps it to HTTP in one place. Messages are
/// shown to users as-is by the lxc client, so they name the object or key that is wrong.
/// </summary>
public abstract class HyperlxdException(string message, Exception? inner = null) : Exception(message, inner)
{
    public abstract int StatusCode { get; }
}

public sealed class BadRequestException(string message, Exception? inner = null) : HyperlxdException(message, inner)
{
    public override int StatusCode => 400;
}

public sealed class ForbiddenException(string message = "not authorized") : HyperlxdException(message)
{
    public override int StatusCode => 403;
}

public sealed class NotFoundException(string message) : HyperlxdException(message)
{
    public override int StatusCode => 404;
}

public sealed class ConflictException(string message) : HyperlxdException(message)
{
    public override int StatusCode => 409;
}

public sealed class PreconditionFailedException(string message) : HyperlxdException(message)
{
    public override int StatusCode => 412;
}

public sealed class PayloadTooLargeException(string message) : HyperlxdException(message)
{
    public override int StatusCode => 413;
}

/// <summary>Refused before any work because the caller is over a rate limit (trust attempts).</summary>
public sealed class TooManyRequestsException(string message) : HyperlxdException(message)
{
    public override int StatusCode => 429;
}

/// <summary>A fault that outlived its retries (the database was away too long): the caller may try again.</summary>
public sealed class TransientException(string message, Exception? inner = null) : HyperlxdException(message, inner)
{
    public override int StatusCode => 503;
}
