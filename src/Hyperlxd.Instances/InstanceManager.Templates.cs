using System.Text;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Instances;
using Hyperlxd.Instances.Templates;
using Hyperlxd.State.Repositories;

namespace Hyperlxd.Instances;

/// <summary>An image's metadata templates (<c>metadata.yaml</c> <c>templates:</c>), applied at start for the pending trigger.</summary>
public sealed partial class InstanceManager
{
    /// <summary>The trigger (create, copy, rename) whose templates the next start applies, as LXD's key.</summary>
    internal const string ApplyTemplate = "volatile.apply_template";

    /// <summary>metadata.yaml and template files larger than this are refused (they are read whole).</summary>
    internal const int MaxTemplateFile = 1 << 20;

    /// <summary>
    /// Called at every start after the root is prepared: applies the pending trigger's templates (then clears
    /// the key) and the "start" ones, as LXD's onStart. Virtual machines are not templated here (LXD renders
    /// theirs into the agent's config drive).
    /// </summary>
    private async Task ApplyTemplatesAsync(Expanded e, CancellationToken ct)
    {
        if (e.Type != InstanceType.Container)
        {
            return;
        }
        if (e.Record.Config.GetValueOrDefault(ApplyTemplate) is { Length: > 0 } pending)
        {
            await ApplyTemplatesNowAsync(e, pending, ct);
            await Repo.UpdateAsync(e.Record.Name, r =>
            {
                r.Config.Remove(ApplyTemplate);
                return Task.CompletedTask;
            }, ct);
        }
        await ApplyTemplatesNowAsync(e, "start", ct);
    }

    /// <summary>Records a trigger for the next start unless one is pending already (LXD's DeferTemplateApply).</summary>
    internal static void DeferTemplateApply(InstanceRecord record, string trigger) => record.Config.TryAdd(ApplyTemplate, trigger);

    /// <summary>
    /// LXD's templateApplyNow. Each file is written through the driver's file access on the stopped root,
    /// which resolves every path inside it (openat2 RESOLVE_IN_ROOT): ".." and symlinks in the image, even
    /// absolute ones, cannot reach the host. New files and directories belong to the container's root.
    /// </summary>
    private async Task ApplyTemplatesNowAsync(Expanded e, string trigger, CancellationToken ct)
    {
        var spec = SpecOf(e);
        var yaml = ReadVolumeFile(spec.RootPath, "metadata.yaml");
        if (yaml is null)
        {
            return;
        }
        var driver = DriverOf(e);
        foreach (var t in TemplateMetadata.Parse(yaml).Where(t => t.When.Contains(trigger)).OrderBy(t => t.Path, StringComparer.Ordinal))
        {
            var path = "/" + t.Path.TrimStart('/');
            if (t.CreateOnly && await ExistsAsync(driver, spec, path, ct))
            {
                continue;
            }
            TemplateMetadata.ValidateTemplateName(t.Template);
            var source = ReadVolumeFile(Path.Combine(spec.RootPath, "templates"), t.Template)
                ?? throw new BadRequestException($"Failed to read template file \"{t.Template}\" (for {path}): it does not exist");
            string output;
            try
            {
                output = Pongo.Render(source, TemplateContext(e, trigger, t));
            }
            catch (TemplateException x)
            {
                throw new BadRequestException($"Failed to render template \"{t.Template}\" for {path}: {x.Message}");
            }
            await MakeParentsAsync(driver, spec, path, ct);
            using var content = new MemoryStream(Encoding.UTF8.GetBytes(output));
            await driver.PutFileAsync(spec, path, new FileWrite(FileType.File, null, null, null, false, null), content, ct);
        }
    }

    /// <summary>A file of the volume (metadata.yaml, templates/NAME), never through a symlink; null when absent.</summary>
    private static string? ReadVolumeFile(string dir, string name)
    {
        if (IsLink(dir))
        {
            throw new BadRequestException($"Refusing {dir}: it is a symlink");
        }
        var path = Path.Combine(dir, name);
        if (IsLink(path))
        {
            throw new BadRequestException($"Refusing {name}: it is a symlink");
        }
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            return Directory.Exists(path) ? throw new BadRequestException($"Refusing {name}: it is a directory") : null;
        }
        if (info.Length > MaxTemplateFile)
        {
            throw new BadRequestException($"Refusing {name}: it is larger than {MaxTemplateFile} bytes");
        }
        return File.ReadAllText(path);
    }

    private static bool IsLink(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget is not null;
        }
        catch (IOException)
        {
            return false; // absent
        }
    }

    private static async Task<bool> ExistsAsync(IInstanceDriver driver, InstanceSpec spec, string path, CancellationToken ct)
    {
        try
        {
            await using var _ = await driver.GetFileAsync(spec, path, ct);
            return true;
        }
        catch (NotFoundException)
        {
            return false;
        }
    }

    /// <summary>The directories leading to <paramref name="path"/> (kept when they exist, new ones 0755 and root's).</summary>
    private static async Task MakeParentsAsync(IInstanceDriver driver, InstanceSpec spec, string path, CancellationToken ct)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var dir = "";
        for (var i = 0; i < parts.Length - 1; i++)
        {
            dir += "/" + parts[i];
            if (await ExistsAsync(driver, spec, dir, ct))
            {
                continue; // kept as it is, also when it is a link (resolved inside the root)
            }
            await driver.PutFileAsync(spec, dir, new FileWrite(FileType.Directory, null, null, 0x1ED, false, null), Stream.Null, ct);
        }
    }

    /// <summary>The variables LXD passes to a template (templateApplyNow's pongo2.Context).</summary>
    private static Dictionary<string, object?> TemplateContext(Expanded e, string trigger, TemplateEntry t)
    {
        var instance = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["name"] = e.Record.Name,
            ["type"] = "container",
            ["architecture"] = e.Record.Architecture,
            ["ephemeral"] = e.Record.Ephemeral ? "true" : "false",
            ["privileged"] = LxdBool.IsTrue(e.Config.GetValueOrDefault("security.privileged")) ? "true" : "false",
        };
        var devices = e.Devices.ToDictionary(d => d.Key, d => (object?)d.Value.ToDictionary(kv => kv.Key, kv => (object?)kv.Value, StringComparer.Ordinal), StringComparer.Ordinal);
        var config = e.Config;
        return new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["trigger"] = trigger,
            ["path"] = t.Path,
            ["container"] = instance,
            ["instance"] = instance,
            ["config"] = config.ToDictionary(kv => kv.Key, kv => (object?)kv.Value, StringComparer.Ordinal),
            ["devices"] = devices,
            ["properties"] = t.Properties.ToDictionary(kv => kv.Key, kv => (object?)kv.Value, StringComparer.Ordinal),
            ["config_get"] = (TemplateFunction)(args =>
                args.Count > 0 && config.TryGetValue(Pongo.Str(args[0]), out var v) ? v.TrimEnd('\r', '\n') : args.Count > 1 ? args[1] : null),
        };
    }
}
