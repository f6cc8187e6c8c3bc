using System.Text;
using Hyperlxd.Containers;
using Hyperlxd.Core.Instances;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Containers;

/// <summary>
/// A busybox-static container in a temp dir with its own runtime dir, driven by a real ContainerDriver
/// (real namespaces, cgroups under hyperlxd/NAME). Disposing kills it and removes everything.
/// </summary>
/// <summary>Container tests run one at a time: ReconcileAsync looks at every group under hyperlxd/.</summary>
[CollectionDefinition("containers", DisableParallelization = true)]
public sealed class ContainersCollection;

public sealed class TestContainer : IAsyncDisposable
{
    public string Dir { get; }
    public string RuntimeDir { get; }
    public ContainerDriver Driver { get; private set; }
    public InstanceSpec Spec { get; private set; }

    private TestContainer(string dir, Dictionary<string, string> config, bool idmappedMounts)
    {
        Dir = dir;
        RuntimeDir = Path.Combine(dir, "run");
        Driver = NewDriver(idmappedMounts);
        var name = "hlxt-" + Guid.NewGuid().ToString("N")[..10];
        Spec = new InstanceSpec(name, InstanceType.Container, "x86_64", config, new Dictionary<string, Dictionary<string, string>>(),
            Path.Combine(dir, "root"), Path.Combine(dir, "state"));
    }

    /// <param name="idmappedMounts">false: the driver chown-shifts unprivileged roots (as on filesystems without idmapped mounts).</param>
    public ContainerDriver NewDriver(bool idmappedMounts = true) =>
        new(new ContainerDriverOptions { HelpersDir = Path.Combine(Repo.Root, "artifacts", "bin"), RuntimeDir = RuntimeDir, IdmappedMounts = idmappedMounts });

    /// <summary>Replaces the driver (a restarted daemon, possibly with other options).</summary>
    public void UseDriver(ContainerDriver driver) => Driver = driver;

    public string RootFs => Path.Combine(Spec.RootPath, "rootfs");

    public string Name => Spec.Name;

    public static async Task<TestContainer> CreateAsync(Dictionary<string, string>? config = null, bool start = true, bool idmappedMounts = true)
    {
        var dir = Repo.TempDir("hlx-ct-");
        var c = new TestContainer(dir, config ?? new Dictionary<string, string>(), idmappedMounts);
        var rootfs = Path.Combine(c.Spec.RootPath, "rootfs");
        foreach (var d in new[] { "bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "root" })
        {
            Directory.CreateDirectory(Path.Combine(rootfs, d));
        }
        File.Copy("/bin/busybox", Path.Combine(rootfs, "bin", "busybox"));
        foreach (var cmd in new[] { "sh", "echo", "sleep", "cat", "id", "ls", "pwd", "true", "head", "stat", "dd", "mount", "tr", "tty", "stty", "umount" })
        {
            File.CreateSymbolicLink(Path.Combine(rootfs, "bin", cmd), "busybox");
        }
        File.CreateSymbolicLink(Path.Combine(rootfs, "sbin", "init"), "../bin/busybox");
        await File.WriteAllTextAsync(Path.Combine(rootfs, "etc", "inittab"), "::sysinit:/bin/echo hello-from-init\n");
        await File.WriteAllTextAsync(Path.Combine(rootfs, "etc", "shadow"), "root:*:1:0:99999:7:::\n");
        try
        {
            c.WithConfig(await c.Driver.PrepareAsync(c.Spec, CancellationToken.None));
            if (start)
            {
                await c.Driver.StartAsync(c.Spec, CancellationToken.None);
            }
            return c;
        }
        catch
        {
            await c.DisposeAsync();
            throw;
        }
    }

    /// <summary>Merges keys into the spec's config (as the daemon does after Prepare or a PATCH).</summary>
    public void WithConfig(IReadOnlyDictionary<string, string> keys)
    {
        var config = new Dictionary<string, string>(Spec.Config);
        foreach (var (k, v) in keys)
        {
            config[k] = v;
        }
        Spec = Spec with { Config = config };
    }

    public async Task<(int Code, string Out, string Err)> ExecAsync(params string[] cmd) => await ExecAsync(new ExecOptions(cmd, new Dictionary<string, string>(), false, 0, 0, 0, 0, "/"));

    public async Task<(int Code, string Out, string Err)> ExecAsync(ExecOptions options)
    {
        await using var s = await Driver.ExecAsync(Spec, options, CancellationToken.None);
        s.Stdin!.Close();
        var o = new StreamReader(s.Stdout!).ReadToEndAsync();
        var e = new StreamReader(s.Stderr!).ReadToEndAsync();
        var code = await s.WaitAsync(CancellationToken.None);
        return (code, await o, await e);
    }

    public async Task<int> InitPidAsync() => (await Driver.GetStateAsync(Spec, CancellationToken.None)).Pid;

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Driver.StopAsync(Spec, true, TimeSpan.Zero, CancellationToken.None);
        }
        finally
        {
            Directory.Delete(Dir, true);
        }
    }

    public static string Utf8(byte[] b) => Encoding.UTF8.GetString(b);
}
