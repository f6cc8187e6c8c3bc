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

    /// <summary>The forced cgroup backend (Auto: the host's choice, under the shared <c>hyperlxd/</c>).</summary>
    public CgroupBackendKind Backend { get; }

    /// <summary>
    /// The cgroup parent: <c>hyperlxd</c>, or with a forced backend one of its own (<c>hyperlxd-t…</c>), so
    /// that no other test's reconcile sees its group, and removed with everything below it on dispose.
    /// </summary>
    public string CgroupParent { get; }

    private TestContainer(string dir, Dictionary<string, string> config, bool idmappedMounts, CgroupBackendKind backend, string? nicNamespace = null)
    {
        NicNamespace = nicNamespace;
        Dir = dir;
        RuntimeDir = Path.Combine(dir, "run");
        Backend = backend;
        CgroupParent = backend == CgroupBackendKind.Auto ? "hyperlxd" : "hyperlxd-t" + Guid.NewGuid().ToString("N")[..8];
        Driver = NewDriver(idmappedMounts);
        var name = "hlxt-" + Guid.NewGuid().ToString("N")[..10];
        Spec = new InstanceSpec(name, InstanceType.Container, "x86_64", config, new Dictionary<string, Dictionary<string, string>>(),
            Path.Combine(dir, "root"), Path.Combine(dir, "state"));
    }

    /// <summary>The test network namespace the driver takes nic peers from (never the host's), or null.</summary>
    public string? NicNamespace { get; }

    /// <param name="idmappedMounts">false: the driver chown-shifts unprivileged roots (as on filesystems without idmapped mounts).</param>
    public ContainerDriver NewDriver(bool idmappedMounts = true) =>
        new(new ContainerDriverOptions
        {
            HelpersDir = Path.Combine(Repo.Root, "artifacts", "bin"),
            RuntimeDir = RuntimeDir,
            IdmappedMounts = idmappedMounts,
            CgroupBackend = Backend,
            CgroupParent = CgroupParent,
            NicNamespace = NicNamespace,
        });

    /// <summary>Replaces the spec (as the daemon's device changes do).</summary>
    public void UseSpec(InstanceSpec spec) => Spec = spec;

    /// <summary>Replaces the driver (a restarted daemon, possibly with other options).</summary>
    public void UseDriver(ContainerDriver driver) => Driver = driver;

    public string RootFs => Path.Combine(Spec.RootPath, "rootfs");

    public string Name => Spec.Name;

    /// <param name="shape">Changes to the spec before Prepare (devices, nics).</param>
    /// <param name="nicNamespace">See <see cref="NicNamespace"/>.</param>
    public static async Task<TestContainer> CreateAsync(Dictionary<string, string>? config = null, bool start = true, bool idmappedMounts = true,
        CgroupBackendKind backend = CgroupBackendKind.Auto, Func<InstanceSpec, InstanceSpec>? shape = null, string? nicNamespace = null)
    {
        var dir = Repo.TempDir("hlx-ct-");
        var c = new TestContainer(dir, config ?? new Dictionary<string, string>(), idmappedMounts, backend, nicNamespace);
        if (shape is not null)
        {
            c.Spec = shape(c.Spec);
        }
        var rootfs = Path.Combine(c.Spec.RootPath, "rootfs");
        foreach (var d in new[] { "bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "root" })
        {
            Directory.CreateDirectory(Path.Combine(rootfs, d));
        }
        File.Copy("/bin/busybox", Path.Combine(rootfs, "bin", "busybox"));
        foreach (var cmd in new[] { "sh", "echo", "sleep", "cat", "id", "ls", "pwd", "true", "head", "stat", "dd", "mount", "tr", "tty", "stty", "umount", "ip" })
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
        using var stdout = new StreamReader(s.Stdout!);
        using var stderr = new StreamReader(s.Stderr!);
        var o = stdout.ReadToEndAsync();
        var e = stderr.ReadToEndAsync();
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
            try
            {
                await RemoveOwnCgroupParentAsync();
            }
            finally
            {
                Directory.Delete(Dir, true);
            }
        }
    }

    /// <summary>
    /// Our own parent (forced backend) in every hierarchy, even after a failed test: whatever still runs
    /// below it is killed (cgroup.kill on v2, else each pid), then the groups go bottom-up.
    /// </summary>
    private async Task RemoveOwnCgroupParentAsync()
    {
        if (Backend == CgroupBackendKind.Auto)
        {
            return;
        }
        foreach (var hierarchy in Directory.GetDirectories("/sys/fs/cgroup"))
        {
            var parent = Path.Combine(hierarchy, CgroupParent);
            if (!Directory.Exists(parent))
            {
                continue;
            }
            var groups = Directory.GetDirectories(parent, "*", SearchOption.AllDirectories).OrderByDescending(d => d.Length).Append(parent).ToList();
            foreach (var g in groups)
            {
                KillAll(g);
            }
            foreach (var g in groups)
            {
                for (var i = 0; ; i++)
                {
                    try
                    {
                        Directory.Delete(g);
                        break;
                    }
                    catch (IOException) when (i < 250)
                    {
                        await Task.Delay(20); // the last tasks of a killed group leave asynchronously
                    }
                }
            }
        }
    }

    private static void KillAll(string group)
    {
        try
        {
            if (File.Exists(Path.Combine(group, "cgroup.kill")))
            {
                File.WriteAllText(Path.Combine(group, "cgroup.kill"), "1");
                return;
            }
            foreach (var pid in File.ReadAllLines(Path.Combine(group, "cgroup.procs")))
            {
                _ = Tmds.Linux.LibC.kill(int.Parse(pid), Tmds.Linux.LibC.SIGKILL);
            }
        }
        catch (IOException)
        {
        }
    }

    public static string Utf8(byte[] b) => Encoding.UTF8.GetString(b);
}
