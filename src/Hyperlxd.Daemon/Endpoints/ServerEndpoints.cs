using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json;
using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Events;
using Hyperlxd.Core.Instances;
using Hyperlxd.Core.Query;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Daemon.Security;
using Hyperlxd.Instances;
using Hyperlxd.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Endpoints;

/// <summary><c>GET/PUT/PATCH /1.0</c>: the server object and its config.</summary>
public static class ServerEndpoints
{
    /// <summary>Only what really works: clients branch on these (lxd-api-5.0.2.md §3).</summary>
    public static readonly IReadOnlyList<string> Extensions = new[]
    {
        "etag",
        "patch",
        "api_os",
        "api_filtering",
        "projects",
        "profile_usedby",
        "certificate_update",
        "certificate_project",
        "certificate_token",
        "event_lifecycle",
        "event_lifecycle_requestor",
        "storage",
        "storage_api_volume_rename",
        "storage_api_volume_snapshots",
        "storage_api_local_volume_handling", // lxc storage volume copy/move (local; no --refresh: custom_volume_refresh is not advertised)
        "network",
        "network_state",
        "network_leases",
        "instances",
        "container_full",
        "instance_get_full",
        "console",
        "container_exec_signal_handling",
        "container_exec_user_group_cwd",
        "file_delete",
        "file_append",
        "file_symlinks",
        "directory_manipulation",
        "snapshot_expiry_creation",
        "image_profiles",
        "image_create_aliases",
        "container_only_migration", // lxc copy --instance-only (local copies only: no migration API)
        "instance_pool_move",
        // Instance backups (containers, also optimized on btrfs; VMs in the portable format).
        "container_backup",
        "backup_compression",
        "backup_compression_algorithm",
        "container_backup_override_pool",
        "backup_override_name",
        "image_compression_algorithm",
        "container_edit_metadata",
        "custom_volume_backup", // lxc storage volume export/import; /1.0/storage-pools/*/volumes/custom/*/backups
        // issue 14: snapshots (expiry, schedules, patterns; instances and custom volumes)
        "snapshot_scheduling",
        "snapshot_schedule_aliases",
        "snapshot_expiry",
        "custom_volume_snapshot_expiry",
        "volume_snapshot_scheduling",
        "instance_snapshot_never",
        // issue 14: monitoring (/1.0/resources: CPU topology with NUMA and dies, memory, disks, NICs, PCI; no GPU/USB/DMI; metrics, warnings, exec recording)
        "resources",
        "resources_v2",
        "resources_cpu_socket",
        "resources_numa",
        "resources_cpu_threads_numa",
        "resources_cpu_core_die",
        "resources_disk_id",
        "resources_disk_address",
        "resources_pci_iommu",
        "metrics", // containers (VMs are left out of the scrape)
        "metrics_cpu_seconds",
        "metrics_authentication",
        "warnings", // raised at start: AppArmor missing, an instance type not operational
        "container_exec_recording", // record-output without websockets: exec_OPID.stdout/.stderr among the instance's logs
        // issue 14: devices (unix-char/unix-block with a path distinct from their source; LxcDeviceHotplugTests)
        "unix_device_rename",
        // issue 14: projects (limits, restrictions, per-project images/profiles, lxc project info)
        "projects_limits",
        "projects_restrictions",
        "projects_limits_instances",
        "projects_limits_disk",
        "project_usage",
        // issue 14: custom volumes per project (features.storage.volumes; LxcProjectVolumeTests)
        "storage_api_project",
        "storage_volume_project_move",
        "storage_volumes_all_projects",
        // issue 14: unix devices and VMs in projects (LxcUnixDeviceWatchTests, VmProjectTests)
        "unix_device_hotplug", // required=false unix-char/unix-block follow their host node while the container runs
        "instance_all_projects", // lxc list --all-projects: every project's instances, each with its project
        // issue 14: project restrictions and networks (features.networks without OVN, restricted.networks.*; LxcProjectRestrictionTests)
        "projects_networks",
        "projects_networks_restricted_uplinks",
        "projects_networks_restricted_access",
    };

    public static string Version { get; } =
        typeof(ServerEndpoints).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    public static void Map(WebApplication app)
    {
        app.MapGet("/1.0", ctx => GetAsync(ctx));
        app.MapPut("/1.0", ctx => UpdateAsync(ctx, patch: false));
        app.MapPatch("/1.0", ctx => UpdateAsync(ctx, patch: true));
    }

    private static Task GetAsync(HttpContext ctx)
    {
        var daemon = ctx.Service<Daemon>();
        var caller = Caller.Of(ctx);
        if (!caller.Trusted)
        {
            return Respond.Sync(ctx, new ServerUntrusted { ApiExtensions = Extensions.ToList() }, ApiJsonContext.Default.ServerUntrusted);
        }
        var server = new Server
        {
            ApiExtensions = Extensions.ToList(),
            Auth = "trusted",
            // As LXD: the server config is for unrestricted clients only.
            Config = caller.IsAdmin ? VisibleConfig(daemon.Config) : new(),
            Environment = Environment(ctx),
        };
        return Respond.Sync(ctx, server, ApiJsonContext.Default.Server, ETagOf(daemon.Config));
    }

    /// <summary>The trust password is never shown, only whether one is set (LXD shows <c>true</c>).</summary>
    private static Dictionary<string, object> VisibleConfig(IReadOnlyDictionary<string, string> config) =>
        config.ToDictionary(kv => kv.Key, kv => kv.Key == ServerConfig.TrustPassword ? (object)true : kv.Value);

    private static string ETagOf(IReadOnlyDictionary<string, string> config) =>
        ETag.Compute(new SortedDictionary<string, string>(VisibleConfig(config).ToDictionary(kv => kv.Key, kv => kv.Value.ToString()!))
            .ToDictionary(), ApiJsonContext.Default.DictionaryStringString);

    private static async Task UpdateAsync(HttpContext ctx, bool patch)
    {
        var daemon = ctx.Service<Daemon>();
        var events = ctx.Service<EventHub>();
        var body = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.DictionaryStringObject);
        var requested = ParseConfig(body.GetValueOrDefault("config"));
        await daemon.UpdateConfigAsync(current =>
        {
            Collection.CheckETag(ctx, ETagOf(current));
            var next = patch ? new Dictionary<string, string>(current) : new Dictionary<string, string>();
            foreach (var (key, value) in requested)
            {
                if (key == ServerConfig.TrustPassword && value is null)
                {
                    // "true" as shown by GET: keep the password that is set.
                    if (current.TryGetValue(key, out var kept))
                    {
                        next[key] = kept;
                    }
                    continue;
                }
                next[key] = value!;
            }
            var changes = next.Where(kv => !current.TryGetValue(kv.Key, out var old) || old != kv.Value)
                .ToDictionary(kv => kv.Key, kv => kv.Value);
            ServerConfig.Validate(changes);
            if (changes.TryGetValue(ServerConfig.TrustPassword, out var password) && password.Length > 0)
            {
                next[ServerConfig.TrustPassword] = TrustPassword.Hash(password);
            }
            return next.Where(kv => kv.Value.Length > 0).ToDictionary();
        }, ctx.RequestAborted);
        events.PublishLifecycle("config-updated", "/1.0", null);
        await Respond.Empty(ctx);
    }

    /// <summary>Config values may arrive as strings, numbers or booleans; LXD stores their text. Null means "keep" for the password.</summary>
    private static Dictionary<string, string?> ParseConfig(object? raw)
    {
        var result = new Dictionary<string, string?>();
        if (raw is not JsonElement { ValueKind: JsonValueKind.Object } obj)
        {
            if (raw is JsonElement { ValueKind: not JsonValueKind.Null })
            {
                throw new BadRequestException("Invalid request body: \"config\" must be an object");
            }
            return result;
        }
        foreach (var p in obj.EnumerateObject())
        {
            result[p.Name] = p.Value.ValueKind switch
            {
                JsonValueKind.String => p.Value.GetString()!,
                JsonValueKind.Null => "",
                JsonValueKind.True when p.Name == ServerConfig.TrustPassword => null,
                JsonValueKind.True or JsonValueKind.False or JsonValueKind.Number => p.Value.GetRawText(),
                _ => throw new BadRequestException($"Invalid value for server config key \"{p.Name}\": must be a string"),
            };
        }
        return result;
    }

    private static readonly Lazy<(string Kernel, string OsName, string OsVersion)> Host = new(() =>
    {
        var kernel = File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : "";
        var os = File.Exists("/etc/os-release")
            ? File.ReadLines("/etc/os-release").Select(l => l.Split('=', 2)).Where(p => p.Length == 2)
                .ToDictionary(p => p[0], p => p[1].Trim('"'))
            : new Dictionary<string, string>();
        return (kernel, os.GetValueOrDefault("NAME", "Linux"), os.GetValueOrDefault("VERSION_ID", ""));
    });

    private static ServerEnvironment Environment(HttpContext ctx) => new()
    {
        Addresses = ctx.Service<Daemon>().HttpsAddresses.ToList(),
        Architectures = RuntimeInformation.OSArchitecture == Architecture.X64 ? new() { "x86_64", "i686" } : new() { RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant() },
        Certificate = ctx.Service<Daemon>().Certificate.Pem,
        CertificateFingerprint = ctx.Service<Daemon>().Certificate.Fingerprint,
        // LXD's "lxc | qemu": the instance drivers that can run here.
        Driver = string.Join(" | ", ctx.Service<InstanceDrivers>().All.Where(d => d.Info.Available).Select(d => d.Info.Name)),
        DriverVersion = string.Join(" | ", ctx.Service<InstanceDrivers>().All.Where(d => d.Info.Available).Select(d => d.Info.Version)),
        Kernel = "Linux",
        KernelArchitecture = RuntimeInformation.OSArchitecture == Architecture.X64 ? "x86_64" : RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant(),
        KernelVersion = Host.Value.Kernel,
        OsName = Host.Value.OsName,
        OsVersion = Host.Value.OsVersion,
        Server = "hyperlxd",
        ServerName = System.Environment.MachineName,
        ServerPid = System.Environment.ProcessId,
        ServerVersion = Version,
        Storage = string.Join(" | ", ctx.Service<StoragePools>().All.Select(p => p.Info.Name).Distinct()),
        StorageVersion = string.Join(" | ", ctx.Service<StoragePools>().All.Select(p => p.Info.Version).Distinct()),
        StorageSupportedDrivers = Hyperlxd.Storage.StoragePools.SupportedDrivers
            .Select(d => new StorageSupportedDriver { Name = d.Name, Version = d.Version, Remote = d.Remote }).ToList(),
        VmAccelerator = ctx.Service<InstanceDrivers>().All.OfType<Hyperlxd.Vms.VmDriver>().FirstOrDefault() is { Info.Available: true } vm
            ? vm.Accelerator?.Name ?? "" : "",
    };
}
