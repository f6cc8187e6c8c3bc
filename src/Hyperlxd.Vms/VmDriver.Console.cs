using Hyperlxd.Core.Instances;
using Hyperlxd.Interop.Libvirt;

namespace Hyperlxd.Vms;

public sealed partial class VmDriver
{
    /// <summary>The serial console, interactive (virDomainOpenConsole; a second client takes it over, as <c>lxc console</c> expects).</summary>
    public async Task<Stream> ConsoleAsync(InstanceSpec spec, CancellationToken ct)
    {
        using var domain = Lookup(spec) ?? throw new BadRequestException("The instance isn't running");
        var stream = Connection.NewStream();
        try
        {
            await Blocking(() => domain.OpenConsole(null, stream, DomainConsoleFlags.Force));
            return stream;
        }
        catch (LibvirtException e)
        {
            await stream.DisposeAsync();
            throw new BadRequestException($"Failed attaching to the console of virtual machine \"{spec.DisplayName}\": {e.LibvirtMessage}");
        }
        catch
        {
            await stream.DisposeAsync();
            throw;
        }
    }

    /// <summary>Everything the serial port printed since the last start: QEMU logs it to a file in the state directory.</summary>
    public async Task<byte[]> ConsoleLogAsync(InstanceSpec spec, CancellationToken ct) =>
        File.Exists(ConsoleLogPath(spec)) ? await File.ReadAllBytesAsync(ConsoleLogPath(spec), ct) : [];
}
