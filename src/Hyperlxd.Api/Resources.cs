using System.Text.Json.Serialization;

namespace Hyperlxd.Api;

// GET /1.0/resources (LXD 5.0.2 shared/api/resource.go): names as LXD's, "omitempty" fields left out when empty.

public sealed class Resources
{
    public ResourcesCpu Cpu { get; set; } = new();
    public ResourcesMemory Memory { get; set; } = new();
    public ResourcesGpu Gpu { get; set; } = new();
    public ResourcesNetwork Network { get; set; } = new();
    public ResourcesStorage Storage { get; set; } = new();
    public ResourcesUsb Usb { get; set; } = new();
    public ResourcesPci Pci { get; set; } = new();
    public ResourcesSystem System { get; set; } = new();
}

public sealed class ResourcesCpu
{
    public string Architecture { get; set; } = "";
    public List<ResourcesCpuSocket> Sockets { get; set; } = new();
    public ulong Total { get; set; }
}

public sealed class ResourcesCpuSocket
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public string? Name { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public string? Vendor { get; set; }
    public ulong Socket { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public List<ResourcesCpuCache>? Cache { get; set; }
    public List<ResourcesCpuCore> Cores { get; set; } = new();
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public ulong Frequency { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public ulong FrequencyMinimum { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public ulong FrequencyTurbo { get; set; }
}

public sealed class ResourcesCpuCache
{
    public ulong Level { get; set; }
    public string Type { get; set; } = "";
    public ulong Size { get; set; }
}

public sealed class ResourcesCpuCore
{
    public ulong Core { get; set; }
    public ulong Die { get; set; }
    public List<ResourcesCpuThread> Threads { get; set; } = new();
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public ulong Frequency { get; set; }
}

public sealed class ResourcesCpuThread
{
    public long Id { get; set; }
    public ulong NumaNode { get; set; }
    public ulong Thread { get; set; }
    public bool Online { get; set; }
    public bool Isolated { get; set; }
}

public sealed class ResourcesMemory
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public List<ResourcesMemoryNode>? Nodes { get; set; }
    public ulong HugepagesTotal { get; set; }
    public ulong HugepagesUsed { get; set; }
    public ulong HugepagesSize { get; set; }
    public ulong Used { get; set; }
    public ulong Total { get; set; }
}

public sealed class ResourcesMemoryNode
{
    public ulong NumaNode { get; set; }
    public ulong HugepagesUsed { get; set; }
    public ulong HugepagesTotal { get; set; }
    public ulong Used { get; set; }
    public ulong Total { get; set; }
}

/// <summary>GPUs are not reported (no DRM reading): always empty.</summary>
public sealed class ResourcesGpu
{
    public List<object> Cards { get; set; } = new();
    public ulong Total { get; set; }
}

public sealed class ResourcesNetwork
{
    public List<ResourcesNetworkCard> Cards { get; set; } = new();
    public ulong Total { get; set; }
}

public sealed class ResourcesNetworkCard
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public string? Driver { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public string? DriverVersion { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public List<ResourcesNetworkCardPort>? Ports { get; set; }
    public ulong NumaNode { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public string? PciAddress { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public string? Vendor { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public string? VendorId { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public string? Product { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public string? ProductId { get; set; }
}

public sealed class ResourcesNetworkCardPort
{
    public string Id { get; set; } = "";
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public string? Address { get; set; }
    public ulong Port { get; set; }
    public string Protocol { get; set; } = "";
    public bool AutoNegotiation { get; set; }
    public bool LinkDetected { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public ulong LinkSpeed { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public string? LinkDuplex { get; set; }
}

public sealed class ResourcesStorage
{
    public List<ResourcesStorageDisk> Disks { get; set; } = new();
    public ulong Total { get; set; }
}

public sealed class ResourcesStorageDisk
{
    public string Id { get; set; } = "";
    public string Device { get; set; } = "";
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public string? Model { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public string? Type { get; set; }
    public bool ReadOnly { get; set; }
    public ulong Size { get; set; }
    public bool Removable { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public string? Wwn { get; set; }
    public ulong NumaNode { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public string? DevicePath { get; set; }
    public ulong BlockSize { get; set; }
    public ulong Rpm { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public string? Serial { get; set; }
    public string DeviceId { get; set; } = "";
    public List<ResourcesStorageDiskPartition> Partitions { get; set; } = new();
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public string? PciAddress { get; set; }
}

public sealed class ResourcesStorageDiskPartition
{
    public string Id { get; set; } = "";
    public string Device { get; set; } = "";
    public bool ReadOnly { get; set; }
    public ulong Size { get; set; }
    public ulong Partition { get; set; }
}

/// <summary>USB devices are not reported: always empty.</summary>
public sealed class ResourcesUsb
{
    public List<object> Devices { get; set; } = new();
    public ulong Total { get; set; }
}

public sealed class ResourcesPci
{
    public List<ResourcesPciDevice> Devices { get; set; } = new();
    public ulong Total { get; set; }
}

public sealed class ResourcesPciDevice
{
    public string Driver { get; set; } = "";
    public string DriverVersion { get; set; } = "";
    public ulong NumaNode { get; set; }
    public string PciAddress { get; set; } = "";
    public string Vendor { get; set; } = "";
    public string VendorId { get; set; } = "";
    public string Product { get; set; } = "";
    public string ProductId { get; set; } = "";
    public ulong IommuGroup { get; set; }
    public ResourcesPciVpd Vpd { get; set; } = new();
}

public sealed class ResourcesPciVpd
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public string? ProductName { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public Dictionary<string, string>? Entries { get; set; }
}

/// <summary>DMI is not read (the <c>resources_system</c> extension is not advertised): empty strings, null details.</summary>
public sealed class ResourcesSystem
{
    public string Uuid { get; set; } = "";
    public string Vendor { get; set; } = "";
    public string Product { get; set; } = "";
    public string Family { get; set; } = "";
    public string Version { get; set; } = "";
    public string Sku { get; set; } = "";
    public string Serial { get; set; } = "";
    public string Type { get; set; } = "";
    public object? Firmware { get; set; }
    public object? Chassis { get; set; }
    public object? Motherboard { get; set; }
}
