using System.Globalization;
using Hyperlxd.Core.Config;

namespace Hyperlxd.Core.Devices;

/// <summary>
/// LXD's <c>unix-char</c> and <c>unix-block</c>: a device node at <c>path</c> inside a container (default:
/// <c>source</c>), with the numbers of the host node <c>source</c> (default: <c>path</c>) unless
/// <c>major</c>/<c>minor</c> say them, owned by <c>uid</c>/<c>gid</c> (inside) with <c>mode</c> (default 0660).
/// A missing host node fails the start unless <c>required=false</c>, which skips the device (the instance
/// manager then follows the node while the container runs: <c>InstanceManager.UnixWatch.cs</c>). Hot-pluggable.
/// </summary>
public sealed class UnixDevice(string type) : Device(type, KeyList)
{
    private static readonly string[] KeyList = { "source", "path", "major", "minor", "uid", "gid", "mode", "required" };

    public override bool HotPluggable => true;

    private char Kind => Type == "unix-char" ? 'c' : 'b';

    protected override void Check(string name, IReadOnlyDictionary<string, string> device)
    {
        if (Value(device, "source") is null && Value(device, "path") is null)
        {
            Problem(name, "needs a \"source\" or a \"path\"");
        }
        foreach (var key in new[] { "source", "path" })
        {
            if (Value(device, key) is { } p && (p[0] != '/' || p.Split('/').Contains("..")))
            {
                BadValue(name, key, $"\"{Validators.Printable(p)}\" must be an absolute path without \"..\" components");
            }
        }
        foreach (var key in new[] { "major", "minor", "uid", "gid" })
        {
            if (Value(device, key) is { } v && !uint.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                BadValue(name, key, $"\"{Validators.Printable(v)}\" is not a non-negative integer");
            }
        }
        if (Value(device, "mode") is { } mode && !TryMode(mode, out _))
        {
            BadValue(name, "mode", $"\"{Validators.Printable(mode)}\" is not an octal mode such as 0660");
        }
        CheckBool(name, device, "required");
    }

    private static bool TryMode(string text, out uint mode)
    {
        mode = 0;
        if (text.Length is 0 or > 5 || text.Any(c => c is < '0' or > '7'))
        {
            return false;
        }
        mode = Convert.ToUInt32(text, 8);
        return mode <= 0xFFF;
    }

    public override IReadOnlyList<string> Targets(IReadOnlyDictionary<string, string> config) =>
        (Value(config, "path") ?? Value(config, "source")) is { } p ? [p] : [];

    public override Task<DeviceSetup> SetupAsync(DeviceContext device, CancellationToken ct)
    {
        var d = device.Config;
        var source = Value(d, "source") ?? Value(d, "path")!;
        var target = Value(d, "path") ?? source;
        uint major, minor;
        if (Value(d, "major") is { } ma && Value(d, "minor") is { } mi)
        {
            (major, minor) = (uint.Parse(ma, CultureInfo.InvariantCulture), uint.Parse(mi, CultureInfo.InvariantCulture));
        }
        else if (device.Host.DeviceNumbers(source) is { } numbers && numbers.Kind == Kind)
        {
            major = Value(d, "major") is { } m1 ? uint.Parse(m1, CultureInfo.InvariantCulture) : numbers.Major;
            minor = Value(d, "minor") is { } m2 ? uint.Parse(m2, CultureInfo.InvariantCulture) : numbers.Minor;
        }
        else if (!LxdBool.Get(d, "required", true))
        {
            return Task.FromResult(DeviceSetup.Nothing); // optional and absent: skipped, as LXD
        }
        else
        {
            throw new BadRequestException(device.Host.DeviceNumbers(source) is null
                ? $"Device \"{device.Name}\": the host has no {(Kind == 'c' ? "character" : "block")} device \"{source}\" (set \"major\" and \"minor\", or \"required=false\")"
                : $"Device \"{device.Name}\": \"{source}\" is not a {(Kind == 'c' ? "character" : "block")} device");
        }
        var uid = Value(d, "uid") is { } u ? uint.Parse(u, CultureInfo.InvariantCulture) : 0;
        var gid = Value(d, "gid") is { } g ? uint.Parse(g, CultureInfo.InvariantCulture) : 0;
        var mode = Value(d, "mode") is { } text && TryMode(text, out var parsed) ? parsed : 0x1B0; // 0660
        return Task.FromResult(DeviceSetup.Nothing with { Nodes = [new DeviceNode(device.Name, target, Kind, major, minor, uid, gid, mode)] });
    }
}
