using System.Text.Json;
using Hyperlxd.Tests.Images;

namespace Hyperlxd.Tests.Infrastructure;

/// <summary>
/// The VM test image of <c>images/vm/build.sh</c>: a Debian kernel booted directly with a busybox
/// initramfs running qemu-guest-agent, its disk mounted at <c>/mnt/disk</c>. Built when missing.
/// </summary>
public static class VmImage
{
    /// <summary>The unified image <c>lxc image import</c> takes.</summary>
    public static string Tarball => Path.Combine(ImageFixture.ArtifactsDir, "vm.tar.gz");

    /// <summary>The image's boot files unpacked (vmlinuz, initrd.img, cmdline), for a raw QEMU boot.</summary>
    public static string BootDir => Path.Combine(ImageFixture.ArtifactsDir, "vm");

    /// <summary>What the guest's /etc/init.d/rc writes on the console once it is up.</summary>
    public const string ReadyMarker = "hyperlxd-vm: ready";

    private static readonly SemaphoreSlim BuildLock = new(1, 1);

    /// <summary>`dotnet cake --target=Images` builds it; a plain `dotnet test` builds it here.</summary>
    public static async Task EnsureBuiltAsync()
    {
        await BuildLock.WaitAsync();
        try
        {
            if (!File.Exists(Tarball))
            {
                var r = await ProcessRunner.RunAsync("bash", [Path.Combine(Repo.Root, "images", "vm", "build.sh"), ImageFixture.ArtifactsDir],
                    timeout: TimeSpan.FromMinutes(10));
                Assert.True(r.ExitCode == 0, r.ToString());
            }
        }
        finally
        {
            BuildLock.Release();
        }
    }
}

/// <summary>
/// A daemon in its own network namespace made by <c>hyperlxd init --auto</c> (a dir pool, lxdbr0 and
/// eth0 in the default profile) with the busybox image as "busybox" and the VM test image as
/// "vmimage": the VM tests of the stock lxc client and pylxd. VMs boot under TCG here (~7 s each), so
/// tests share VMs where they can and wait for the guest agent before exec.
/// </summary>
public sealed class VmDaemon : IAsyncLifetime
{
    public const string VmAlias = "vmimage";

    /// <summary>How long a boot may take to its guest agent on a loaded 2-core machine under TCG (a hang guard, not a timing).</summary>
    public static readonly TimeSpan AgentPatience = TimeSpan.FromMinutes(4);

    public DaemonProcess Daemon { get; private set; } = null!;

    public async Task InitializeAsync() => Daemon = await StartAsync();

    public async Task DisposeAsync()
    {
        try
        {
            await Daemon.DeleteAllInstancesAsync();
        }
        finally
        {
            await Daemon.DisposeAsync();
        }
    }

    /// <summary>A fresh daemon prepared for containers and VMs (the caller disposes it).</summary>
    public static async Task<DaemonProcess> StartAsync()
    {
        await ImageFixture.EnsureImagesAsync();
        await VmImage.EnsureBuiltAsync();
        var d = await DaemonProcess.StartAsync();
        try
        {
            await d.PrepareContainersAsync(ImageFixture.Busybox);
            await LxcOkAsync(d, "image", "import", VmImage.Tarball, "--alias", VmAlias);
        }
        catch
        {
            await d.DisposeAsync();
            throw;
        }
        return d;
    }

    public static Task<string> LxcOkAsync(DaemonProcess d, params string[] args) => d.LxcOkAsync(args);

    /// <summary>`lxc launch --vm vmimage NAME`, then waits until its guest agent runs a command.</summary>
    public static async Task LaunchVmAsync(DaemonProcess d, string name, params string[] extra)
    {
        await LxcOkAsync(d, ["launch", "--vm", VmAlias, name, .. extra]);
        await WaitForAgentAsync(d, name);
    }

    /// <summary>
    /// Polls <c>lxc exec NAME -- true</c> until it succeeds: the VM is Running as soon as QEMU runs,
    /// its agent answers once the guest has booted.
    /// </summary>
    public static async Task WaitForAgentAsync(DaemonProcess d, string name)
    {
        var deadline = DateTime.UtcNow + AgentPatience;
        ProcessResult last;
        do
        {
            last = await d.LxcAsync("exec", name, "--", "true");
            if (last.ExitCode == 0)
            {
                return;
            }
            await Task.Delay(250);
        }
        while (DateTime.UtcNow < deadline);
        Assert.Fail($"the guest agent of {name} did not run `true` within {AgentPatience}: {last}\n" +
            $"{await d.LxcAsync("list", name)}\n{await d.LxcAsync("console", name, "--show-log")}\n{await d.LxcAsync("info", name, "--show-log")}");
    }

    /// <summary>The instance as <c>lxc list NAME --format json</c> shows it.</summary>
    public static async Task<JsonElement> ListJsonAsync(DaemonProcess d, string name)
    {
        var json = await LxcOkAsync(d, "list", name, "--format", "json");
        var all = JsonDocument.Parse(json).RootElement.EnumerateArray().Where(i => i.GetProperty("name").GetString() == name).ToList();
        Assert.True(all.Count == 1, json);
        return all[0].Clone();
    }

    /// <summary>The QEMU process of a running VM, as the instance state reports it.</summary>
    public static async Task<int> QemuPidAsync(DaemonProcess d, string name) =>
        (await ListJsonAsync(d, name)).GetProperty("state").GetProperty("pid").GetInt32();

    /// <summary>A live process's command name (/proc/PID/comm), or null when it is gone or a zombie (this machine's PID 1 reaps slowly).</summary>
    public static string? Comm(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/status").Contains("State:\tZ", StringComparison.Ordinal)
                ? null
                : File.ReadAllText($"/proc/{pid}/comm").Trim();
        }
        catch (IOException)
        {
            return null;
        }
    }
}
