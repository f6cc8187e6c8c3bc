using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Security;

/// <summary>
/// Who is calling: the unix socket is trusted (its mode and group are the access control); TLS callers by
/// certificate. A restricted certificate (LXD's <c>restricted</c> + <c>projects</c>) reaches only its projects.
/// </summary>
public sealed record Caller(bool Trusted, string Protocol, string Username, X509Certificate2? Certificate, string Address,
    bool Restricted = false, IReadOnlyList<string>? Projects = null)
{
    private static readonly object Key = new();

    public static Caller Of(HttpContext ctx) => (Caller)ctx.Items[Key]!;

    public static void Set(HttpContext ctx, Caller caller) => ctx.Items[Key] = caller;

    public static bool IsUnixSocket(HttpContext ctx) =>
        ctx.Connection.LocalIpAddress is null && ctx.Connection.RemoteIpAddress is null;

    /// <summary>LXD's "admin": trusted and not restricted.</summary>
    public bool IsAdmin => Trusted && !Restricted;

    public bool CanAccessProject(string project) => IsAdmin || (Trusted && (Projects?.Contains(project) ?? false));

    public Api.EventLifecycleRequestor Requestor => new() { Username = Username, Protocol = Protocol, Address = Address };
}
