using System.Globalization;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Containers;

/// <summary>
/// The container's <c>lxc.log</c> (LXD's name, what <c>lxc info --show-log</c> reads): how the last start
/// was set up and why it failed. Rewritten at each start, as LXD rotates it.
/// </summary>
internal static class InstanceLog
{
    public static string PathOf(InstanceSpec spec) => Path.Combine(spec.StateDir, "lxc.log");

    public static Task StartAsync(InstanceSpec spec, IdMap? map, IdMap? disk)
    {
        var ids = map is null
            ? "none (privileged)"
            : string.Join(", ", map.Lines(true).Select(l => $"u {l.NsId} {l.HostId} {l.Range}").Concat(map.Lines(false).Select(l => $"g {l.NsId} {l.HostId} {l.Range}")));
        var root = map is null ? "as is" : disk is null ? "idmapped mount" : "shifted on disk";
        var nics = spec.Nics.Count == 0 ? "none" : string.Join(", ", spec.Nics.Select(n => $"{n.Name} ({n.HwAddr}) host {n.HostName}" + (n.Bridge.Length > 0 ? " on " + n.Bridge : "")));
        return File.WriteAllTextAsync(PathOf(spec), string.Create(CultureInfo.InvariantCulture,
            $"{Now()} starting container {spec.Name}\nidmap: {ids}\nroot: {spec.RootPath} ({root})\nnics: {nics}\n"), CancellationToken.None);
    }

    /// <summary>Appends the failure and returns the exception the start throws.</summary>
    public static async Task<InvalidOperationException> FailedAsync(InstanceSpec spec, string reason)
    {
        try
        {
            await File.AppendAllTextAsync(PathOf(spec), $"{Now()} start failed: {reason}\n", CancellationToken.None);
        }
        catch (IOException)
        {
            // The log is for people; the start's own error still reaches the caller.
        }
        return new InvalidOperationException($"Failed starting instance \"{spec.DisplayName}\": {reason}");
    }

    private static string Now() => DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
}
