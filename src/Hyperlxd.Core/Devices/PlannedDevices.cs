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
