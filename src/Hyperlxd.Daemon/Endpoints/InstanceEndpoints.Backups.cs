using Microsoft.AspNetCore.Builder;

namespace Hyperlxd.Daemon.Endpoints;

public static partial class InstanceEndpoints
{
    /// <summary><c>/1.0/instances/NAME/backups</c> and their export.</summary>
    private static void MapBackups(WebApplication app, string prefix)
    {
    }
}
