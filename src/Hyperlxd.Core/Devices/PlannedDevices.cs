using Hyperlxd.Core.Config;

namespace Hyperlxd.Core.Devices;

/// <summary>
/// A device type LXD has and Hyperlxd does not implement yet: its keys are checked as LXD checks them
/// (so a bad key is named first), then the device is refused with a 400 naming it and its type.
/// </summary>
public class PlannedDevice(string type, IEnumerable<string> keys, params string[] required) : Device(type, keys, required)
{
    public override bool Implemented => false;
}

/// <summary>LXD's <c>unix-char</c> and <c>unix-block</c>: a device node by host source or instance path.</summary>
public sealed class UnixDevice(string type) : PlannedDevice(type, KeyList)
{
    private static readonly string[] KeyList = { "source", "path", "major", "minor", "uid", "gid", "mode", "required" };

    protected override void Check(string name, IReadOnlyDictionary<string, string> device)
    {
        if (!device.ContainsKey("source") && !device.ContainsKey("path"))
        {
            Problem(name, "needs a \"source\" or a \"path\"");
        }
    }
}
