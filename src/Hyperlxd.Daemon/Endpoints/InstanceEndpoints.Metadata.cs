using Microsoft.AspNetCore.Builder;

namespace Hyperlxd.Daemon.Endpoints;

public static partial class InstanceEndpoints
{
    /// <summary><c>/1.0/instances/NAME/metadata</c> and <c>/metadata/templates</c> (<c>lxc config metadata|template</c>).</summary>
    private static void MapMetadata(WebApplication app, string prefix)
    {
    }
}
