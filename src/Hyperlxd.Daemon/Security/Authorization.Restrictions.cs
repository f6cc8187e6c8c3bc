using System.Text.Json;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Instances;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Hyperlxd.Daemon.Security;

/// <summary>
/// Restricted clients get what LXD 5.0.2 enforces in a project with <c>restricted=true</c> and the
/// <c>restricted.*</c> defaults (lxd/project/permissions.go): unprivileged containers only, no nesting,
/// no syscall interception, no low-level keys (<c>raw.*</c>, idmap base/size, kernel modules, ...), disks
/// only from storage pools (no host paths), only managed NICs, no unix/usb/gpu/pci/infiniband/proxy
/// devices, no snapshots. Checked on the expanded config: the instance's own, its profiles', and for a
/// copy the source instance's.
/// </summary>
public static partial class Authorization
{
    private static readonly HashSet<string> LowLevelKeys = new(StringComparer.Ordinal)
    {
        "boot.host_shutdown_timeout", "linux.kernel_modules", "security.devlxd.images",
        "security.idmap.base", "security.idmap.size", "limits.memory.hugepages",
    };

    private static readonly string[] InterceptKeys =
    {
        "security.syscalls.intercept.bpf", "security.syscalls.intercept.bpf.devices", "security.syscalls.intercept.mknod",
        "security.syscalls.intercept.mount", "security.syscalls.intercept.mount.fuse", "security.syscalls.intercept.setxattr",
    };

    private static readonly Dictionary<string, string> BlockedDevices = new(StringComparer.Ordinal)
    {
        ["unix-char"] = "Unix character devices are forbidden",
        ["unix-block"] = "Unix block devices are forbidden",
        ["unix-hotplug"] = "Unix hotplug devices are forbidden",
        ["infiniband"] = "Infiniband devices are forbidden",
        ["gpu"] = "GPU devices are forbidden",
        ["usb"] = "USB devices are forbidden",
        ["pci"] = "PCI devices are forbidden",
        ["proxy"] = "Proxy devices are forbidden",
    };

    /// <summary>Checks the config a restricted client asks for before its handler runs (the body stays readable).</summary>
    public static async Task CheckRestrictionsAsync(HttpContext ctx, Caller caller)
    {
        if (!caller.Trusted || caller.IsAdmin || HttpMethods.IsGet(ctx.Request.Method) || HttpMethods.IsDelete(ctx.Request.Method)
            || (ctx.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText is not { } pattern)
        {
            return;
        }
        var instances = pattern.StartsWith("/1.0/instances", StringComparison.Ordinal) || pattern.StartsWith("/1.0/containers", StringComparison.Ordinal);
        var profiles = pattern.StartsWith("/1.0/profiles", StringComparison.Ordinal);
        if (instances && pattern.EndsWith("/{name}/snapshots", StringComparison.Ordinal) && HttpMethods.IsPost(ctx.Request.Method))
        {
            throw new ForbiddenException("Snapshots are forbidden for restricted certificates (LXD's restricted.snapshots=block)");
        }
        var isCreate = pattern is "/1.0/instances" or "/1.0/containers";
        var isUpdate = pattern is "/1.0/instances/{name}" or "/1.0/containers/{name}" && !HttpMethods.IsPost(ctx.Request.Method);
        var isProfile = profiles && (pattern == "/1.0/profiles" || (pattern == "/1.0/profiles/{name}" && !HttpMethods.IsPost(ctx.Request.Method)));
        if (!isCreate && !isUpdate && !isProfile)
        {
            return;
        }
        using var body = await PeekJsonAsync(ctx);
        if (body?.RootElement is not { ValueKind: JsonValueKind.Object } root)
        {
            return; // the handler answers malformed bodies
        }
        var label = isProfile ? "profile" : "instance";
        var name = root.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : (ctx.Request.RouteValues["name"] as string ?? "");
        CheckConfig($"{label} \"{name}\"", StringMap(root, "config"));
        CheckDevices($"{label} \"{name}\"", DeviceMap(root));
        if (isProfile)
        {
            return;
        }
        var profileNames = root.TryGetProperty("profiles", out var p) && p.ValueKind == JsonValueKind.Array
            ? p.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!).ToList()
            : isCreate ? new List<string> { "default" } : new List<string>();
        foreach (var profileName in profileNames)
        {
            Api.Profile profile;
            try
            {
                profile = await ctx.Service<ProfileService>().GetAsync(ProjectScope.Of(ctx).ProfileKey(profileName), ctx.RequestAborted, usedBy: false);
            }
            catch (NotFoundException)
            {
                continue; // the handler reports the missing profile
            }
            CheckConfig($"profile \"{profileName}\"", profile.Config);
            CheckDevices($"profile \"{profileName}\"", profile.Devices);
        }
        if (isCreate && root.TryGetProperty("source", out var source) && source.ValueKind == JsonValueKind.Object
            && source.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() == "copy"
            && source.TryGetProperty("source", out var from) && from.ValueKind == JsonValueKind.String)
        {
            InstanceLoad? copied = null;
            try
            {
                var e = await ctx.Service<InstanceManager>().LoadAsync(ProjectScope.Of(ctx).InstanceKey(from.GetString()!.Split('/')[0]), ctx.RequestAborted);
                copied = new InstanceLoad(e.Config, e.Devices);
            }
            catch (NotFoundException)
            {
            }
            if (copied is not null)
            {
                CheckConfig($"instance \"{from.GetString()}\" (copy source)", copied.Config);
                CheckDevices($"instance \"{from.GetString()}\" (copy source)", copied.Devices);
            }
        }
    }

    private sealed record InstanceLoad(Dictionary<string, string> Config, Dictionary<string, Dictionary<string, string>> Devices);

    /// <summary>Refuses config keys and values a restricted client may not set, naming the key.</summary>
    public static void CheckConfig(string entity, IEnumerable<KeyValuePair<string, string>> config)
    {
        foreach (var (key, value) in config)
        {
            var forbidden = key.StartsWith("raw.", StringComparison.Ordinal) || LowLevelKeys.Contains(key)
                || (key.StartsWith("security.syscalls.intercept", StringComparison.Ordinal) && !InterceptKeys.Contains(key))
                ? "low-level options are forbidden"
                : key switch
                {
                    "security.privileged" when LxdBool.IsTrue(value) => "privileged containers are forbidden",
                    "security.nesting" when LxdBool.IsTrue(value) => "container nesting is forbidden",
                    _ when InterceptKeys.Contains(key) && LxdBool.IsTrue(value) => "container syscall interception is forbidden",
                    _ => null,
                };
            if (forbidden is not null)
            {
                throw new ForbiddenException($"Config \"{key}\" on {entity} is not allowed for a restricted certificate: {forbidden}");
            }
        }
    }

    /// <summary>Refuses devices that reach the host directly (host-path disks, unmanaged NICs, passthrough).</summary>
    public static void CheckDevices(string entity, IReadOnlyDictionary<string, Dictionary<string, string>> devices)
    {
        foreach (var (name, device) in devices)
        {
            var type = device.GetValueOrDefault("type", "");
            var problem = type switch
            {
                _ when BlockedDevices.TryGetValue(type, out var blocked) => blocked,
                "nic" when string.IsNullOrEmpty(device.GetValueOrDefault("network")) => "only managed network devices are allowed",
                "disk" when device.GetValueOrDefault("path") == "/" && !string.IsNullOrEmpty(device.GetValueOrDefault("pool")) => null,
                "disk" when string.IsNullOrEmpty(device.GetValueOrDefault("path")) && device.GetValueOrDefault("source") == "cloud-init:config" => null,
                "disk" when string.IsNullOrEmpty(device.GetValueOrDefault("pool")) => "attaching disks not backed by a pool is forbidden",
                _ => null,
            };
            if (problem is not null)
            {
                throw new ForbiddenException($"Device \"{name}\" on {entity} is not allowed for a restricted certificate: {problem}");
            }
        }
    }

    private static async Task<JsonDocument?> PeekJsonAsync(HttpContext ctx)
    {
        ctx.Request.EnableBuffering(RequestBody.MaxJsonBytes);
        try
        {
            using var buffer = new MemoryStream();
            var chunk = new byte[16384];
            int n;
            while ((n = await ctx.Request.Body.ReadAsync(chunk, ctx.RequestAborted)) > 0)
            {
                if (buffer.Length + n > RequestBody.MaxJsonBytes)
                {
                    return null; // the handler refuses it as too large
                }
                buffer.Write(chunk, 0, n);
            }
            return buffer.Length == 0 ? null : JsonDocument.Parse(buffer.ToArray());
        }
        catch (JsonException)
        {
            return null;
        }
        finally
        {
            ctx.Request.Body.Position = 0;
        }
    }

    private static List<KeyValuePair<string, string>> StringMap(JsonElement root, string property) =>
        root.TryGetProperty(property, out var o) && o.ValueKind == JsonValueKind.Object
            ? o.EnumerateObject().Select(p => KeyValuePair.Create(p.Name, p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText())).ToList()
            : new();

    private static Dictionary<string, Dictionary<string, string>> DeviceMap(JsonElement root) =>
        root.TryGetProperty("devices", out var o) && o.ValueKind == JsonValueKind.Object
            ? o.EnumerateObject().Where(d => d.Value.ValueKind == JsonValueKind.Object)
                .ToDictionary(d => d.Name, d => d.Value.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText()))
            : new();
}
