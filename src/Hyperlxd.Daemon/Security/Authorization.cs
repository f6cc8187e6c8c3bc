using Hyperlxd.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Hyperlxd.Daemon.Security;

/// <summary>
/// What a trusted but restricted TLS client may do, decided in one place for every route (LXD 5.0.2's
/// access handlers: <c>allowAuthenticated</c>, <c>allowProjectPermission</c>, and admin-only for the rest).
/// A restricted certificate gets every permission inside its projects and none outside them; server,
/// certificate, project, storage-pool and network administration stay with unrestricted clients.
/// Routes not listed here are admin-only, so a new endpoint is closed until someone opens it.
/// </summary>
public static partial class Authorization
{
    public enum Access
    {
        /// <summary>Any trusted client (handlers may narrow it further, e.g. certificates).</summary>
        Authenticated,

        /// <summary>Clients allowed in the request's project (<c>?project=</c>, or the route's project).</summary>
        Project,

        /// <summary>Unrestricted clients only.</summary>
        Admin,
    }

    /// <summary>Refuses what the caller may not reach; unrestricted callers pass untouched.</summary>
    public static void Authorize(HttpContext ctx, Caller caller)
    {
        if (!caller.Trusted || caller.IsAdmin)
        {
            return;
        }
        var pattern = (ctx.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText;
        if (pattern is null)
        {
            return; // no route: the 404/405 answer reveals nothing
        }
        switch (Classify(ctx.Request.Method, pattern))
        {
            case Access.Admin:
                throw new ForbiddenException($"not authorized: a restricted certificate cannot {Describe(ctx.Request.Method, pattern)}");
            case Access.Project when IsAllProjectsList(ctx, pattern):
                break; // the list holds only the caller's projects (ProjectScope.Permitted), as LXD 5.0.2 filters it
            case Access.Project:
                var project = ProjectOf(ctx, pattern);
                if (!caller.CanAccessProject(project))
                {
                    throw new ForbiddenException($"not authorized: this certificate is restricted to project(s) {string.Join(", ", caller.Projects ?? [])}, not \"{project}\"");
                }
                break;
        }
    }

    /// <summary>The access rule of one route (its pattern as mapped) and method.</summary>
    public static Access Classify(string method, string pattern)
    {
        var read = HttpMethods.IsGet(method) || HttpMethods.IsHead(method);
        var path = pattern.TrimEnd('/');
        if (path is "" or "/1.0")
        {
            return read ? Access.Authenticated : Access.Admin;
        }
        if (path.StartsWith("/1.0/certificates", StringComparison.Ordinal))
        {
            // Handlers allow a restricted client only to read, and to present its own certificate again.
            return HttpMethods.IsDelete(method) ? Access.Admin : Access.Authenticated;
        }
        if (path == "/1.0/projects")
        {
            return read ? Access.Authenticated : Access.Admin;
        }
        if (path.StartsWith("/1.0/projects/", StringComparison.Ordinal))
        {
            return read ? Access.Project : Access.Admin;
        }
        if (path.StartsWith("/1.0/storage-pools/{pool}/volumes", StringComparison.Ordinal))
        {
            return Access.Project;
        }
        if (path.StartsWith("/1.0/storage-pools", StringComparison.Ordinal) || path.StartsWith("/1.0/networks", StringComparison.Ordinal))
        {
            return read ? Access.Authenticated : Access.Admin;
        }
        if (IsUnder(path, "/1.0/instances") || IsUnder(path, "/1.0/containers") || IsUnder(path, "/1.0/virtual-machines")
            || IsUnder(path, "/1.0/profiles") || IsUnder(path, "/1.0/images"))
        {
            return Access.Project;
        }
        if (path == "/1.0/metrics")
        {
            return Access.Authenticated; // the handler leaves out projects a restricted certificate cannot see
        }
        if (IsUnder(path, "/1.0/operations") || path is "/1.0/events" or "/1.0/resources")
        {
            return Access.Authenticated;
        }
        return Access.Admin;
    }

    /// <summary>Lists that take <c>all-projects=true</c> and filter it by the caller's projects.</summary>
    private static readonly HashSet<string> AllProjectsLists = new(StringComparer.Ordinal)
    {
        "/1.0/instances", "/1.0/containers", "/1.0/virtual-machines", "/1.0/images", "/1.0/profiles",
        "/1.0/storage-pools/{pool}/volumes", "/1.0/storage-pools/{pool}/volumes/{type}",
    };

    private static bool IsAllProjectsList(HttpContext ctx, string pattern) =>
        HttpMethods.IsGet(ctx.Request.Method) && ctx.Request.Query["all-projects"].ToString() == "true"
        && ctx.Request.Query["project"].ToString().Length == 0 && AllProjectsLists.Contains(pattern.TrimEnd('/'));

    private static bool IsUnder(string path, string prefix) =>
        path == prefix || path.StartsWith(prefix + "/", StringComparison.Ordinal);

    private static string ProjectOf(HttpContext ctx, string pattern) =>
        pattern.StartsWith("/1.0/projects/", StringComparison.Ordinal) && ctx.Request.RouteValues["name"] is string name
            ? name
            : ctx.Request.Query["project"].ToString() is { Length: > 0 } p ? p : "default";

    private static string Describe(string method, string pattern) =>
        pattern.TrimEnd('/') switch
        {
            "" or "/1.0" => "change the server configuration",
            var p when p.StartsWith("/1.0/certificates", StringComparison.Ordinal) => "administer certificates",
            var p when p.StartsWith("/1.0/projects", StringComparison.Ordinal) => "administer projects",
            var p when p.StartsWith("/1.0/storage-pools", StringComparison.Ordinal) => "administer storage pools",
            var p when p.StartsWith("/1.0/networks", StringComparison.Ordinal) => "administer networks",
            var p => $"use {method} {p}",
        };
}
