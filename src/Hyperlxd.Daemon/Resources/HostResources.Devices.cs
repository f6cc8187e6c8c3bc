using Hyperlxd.Api;

namespace Hyperlxd.Daemon.Resources;

public sealed partial class HostResources
{
    /// <summary>Disks: <c>/sys/class/block</c> entries backed by a device (loop, zram and the like are not), partitions under them.</summary>
    private List<ResourcesStorageDisk> Storage()
    {
        var blockDir = P("/sys/class/block");
        var disks = new List<ResourcesStorageDisk>();
        foreach (var entry in Directory.Exists(blockDir) ? Directory.EnumerateFileSystemEntries(blockDir).Order(StringComparer.Ordinal) : Enumerable.Empty<string>())
        {
            var device = Path.Combine(entry, "device");
            if (!Directory.Exists(device) || File.Exists(Path.Combine(entry, "partition")))
            {
                continue;
            }
            var id = Path.GetFileName(entry);
            var disk = new ResourcesStorageDisk
            {
                Id = id,
                Device = ReadText(Path.Combine(entry, "dev")) ?? "",
                Model = ReadText(Path.Combine(device, "model")) is { Length: > 0 } model ? model : null,
                Type = LinkName(Path.Combine(device, "subsystem")),
                ReadOnly = ReadUlong(Path.Combine(entry, "ro")) == 1,
                Size = ReadUlong(Path.Combine(entry, "size")) * 512,
                Removable = ReadUlong(Path.Combine(entry, "removable")) == 1,
                Wwn = ReadText(Path.Combine(entry, "wwid")) is { Length: > 0 } wwn ? wwn : null,
                NumaNode = NumaNode(device),
                BlockSize = ReadUlong(Path.Combine(entry, "queue", "physical_block_size")),
                Rpm = ReadUlong(Path.Combine(entry, "queue", "rotational")), // LXD: 1 when rotational and the speed is unknown
                Serial = (ReadText(Path.Combine(entry, "serial")) ?? ReadText(Path.Combine(device, "serial"))) is { Length: > 0 } serial ? serial : null,
                PciAddress = PciAddressOf(device),
            };
            disk.DeviceId = DevLink("/dev/disk/by-id", id) ?? "";
            disk.DevicePath = DevLink("/dev/disk/by-path", id);
            var realEntry = RealPath(entry);
            foreach (var part in Directory.EnumerateDirectories(realEntry).Where(d => File.Exists(Path.Combine(d, "partition"))).Order(StringComparer.Ordinal))
            {
                disk.Partitions.Add(new ResourcesStorageDiskPartition
                {
                    Id = Path.GetFileName(part),
                    Device = ReadText(Path.Combine(part, "dev")) ?? "",
                    ReadOnly = ReadUlong(Path.Combine(part, "ro")) == 1,
                    Size = ReadUlong(Path.Combine(part, "size")) * 512,
                    Partition = ReadUlong(Path.Combine(part, "partition")),
                });
            }
            disks.Add(disk);
        }
        return disks;
    }

    /// <summary>The udev link naming a block device (first in name order), if udev made any.</summary>
    private string? DevLink(string dir, string device)
    {
        var path = P(dir);
        if (!Directory.Exists(path))
        {
            return null;
        }
        return Directory.EnumerateFileSystemEntries(path).Order(StringComparer.Ordinal)
            .Where(l => new FileInfo(l).LinkTarget is { } t && Path.GetFileName(t) == device)
            .Select(Path.GetFileName).FirstOrDefault();
    }

    /// <summary>Network cards: <c>/sys/class/net</c> interfaces backed by a device, ports grouped by that device.</summary>
    private List<ResourcesNetworkCard> Network()
    {
        var netDir = P("/sys/class/net");
        var cards = new Dictionary<string, ResourcesNetworkCard>();
        foreach (var entry in Directory.Exists(netDir) ? Directory.EnumerateFileSystemEntries(netDir).Order(StringComparer.Ordinal) : Enumerable.Empty<string>())
        {
            var device = Path.Combine(entry, "device");
            if (!Directory.Exists(device))
            {
                continue;
            }
            var key = RealPath(device);
            if (!cards.TryGetValue(key, out var card))
            {
                var pci = PciAddressOf(device);
                var pciDir = pci is null ? null : P("/sys/bus/pci/devices/" + pci);
                var driver = LinkName(Path.Combine(device, "driver"));
                card = cards[key] = new ResourcesNetworkCard
                {
                    Driver = driver,
                    DriverVersion = driver is null ? null : ReadText(P($"/sys/module/{driver}/version")),
                    NumaNode = pciDir is null ? 0 : NumaNode(pciDir),
                    PciAddress = pci,
                    VendorId = pciDir is null ? null : HexId(ReadText(Path.Combine(pciDir, "vendor"))),
                    ProductId = pciDir is null ? null : HexId(ReadText(Path.Combine(pciDir, "device"))),
                    Ports = new(),
                };
            }
            var speed = ReadLong(Path.Combine(entry, "speed"));
            var duplex = ReadText(Path.Combine(entry, "duplex"));
            card.Ports!.Add(new ResourcesNetworkCardPort
            {
                Id = Path.GetFileName(entry),
                Address = ReadText(Path.Combine(entry, "address")),
                Port = ReadUlong(Path.Combine(entry, "dev_port")),
                Protocol = ReadText(Path.Combine(entry, "type")) switch { "1" => "ethernet", "32" => "infiniband", _ => "unknown" },
                LinkDetected = ReadText(Path.Combine(entry, "carrier")) == "1",
                LinkSpeed = speed is > 0 ? (ulong)speed.Value : 0,
                LinkDuplex = duplex is { Length: > 0 } and not "unknown" ? duplex : null,
            });
        }
        return cards.Values.OrderBy(c => c.PciAddress ?? "", StringComparer.Ordinal).ToList();
    }

    /// <summary>PCI devices: ids, driver (and its module version), NUMA node and IOMMU group from <c>/sys/bus/pci/devices</c>.</summary>
    private List<ResourcesPciDevice> Pci()
    {
        var pciDir = P("/sys/bus/pci/devices");
        var devices = new List<ResourcesPciDevice>();
        foreach (var dir in Directory.Exists(pciDir) ? Directory.EnumerateFileSystemEntries(pciDir).Order(StringComparer.Ordinal) : Enumerable.Empty<string>())
        {
            var driver = LinkName(Path.Combine(dir, "driver")) ?? "";
            devices.Add(new ResourcesPciDevice
            {
                PciAddress = Path.GetFileName(dir),
                Driver = driver,
                DriverVersion = driver.Length == 0 ? "" : ReadText(P($"/sys/module/{driver}/version")) ?? "",
                NumaNode = NumaNode(dir),
                VendorId = HexId(ReadText(Path.Combine(dir, "vendor"))),
                ProductId = HexId(ReadText(Path.Combine(dir, "device"))),
                IommuGroup = ulong.TryParse(LinkName(Path.Combine(dir, "iommu_group")), out var group) ? group : 0,
            });
        }
        return devices;
    }
}
