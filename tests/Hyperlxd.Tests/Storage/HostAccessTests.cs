using Hyperlxd.Tests.Containers;
using Hyperlxd.Tests.Images;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Storage;

/// <summary>A daemon of its own (it is restarted) with the busybox image, the "default" dir pool and a btrfs pool.</summary>
public sealed class HostAccessDaemon : IAsyncLifetime
{
    public const string Btrfs = "hostaccess-btrfs";
    public DaemonProcess Daemon { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await ImageFixture.EnsureImagesAsync();
        Daemon = await DaemonProcess.StartAsync();
        await Daemon.PrepareContainersAsync(ImageFixture.Busybox);
        var r = await Daemon.LxcAsync("storage", "create", Btrfs, "btrfs", "size=1GiB");
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    public async Task DisposeAsync()
    {
        try
        {
            await Daemon.DeleteAllInstancesAsync();
            foreach (var pool in new[] { "default", Btrfs })
            {
                foreach (var v in new[] { "hv" })
                {
                    await Daemon.LxcAsync("storage", "volume", "delete", pool, v);
                }
            }
            await Daemon.LxcAsync("storage", "delete", Btrfs);
        }
        finally
        {
            await Daemon.DisposeAsync();
        }
    }
}

/// <summary>
/// Issue 9 finding 1: a setuid-root file made inside a container (uid 0 on disk with idmapped
/// mounts) must not be reachable by an unprivileged host user, through the instance, its
/// snapshots, custom volumes or the image cache, on every driver; and startup repairs the modes
/// of an install from before.
/// </summary>
public sealed class HostAccessTests(HostAccessDaemon fixture) : IClassFixture<HostAccessDaemon>
{
    private DaemonProcess D => fixture.Daemon;

    private Task<string> LxcOkAsync(params string[] args) => D.LxcOkAsync(args);

    private string PoolDir(string pool) => Path.Combine(D.Dir, "storage-pools", pool);

    /// <summary>
    /// Runs a command as nobody:nogroup with no supplementary groups (the issue's attacker). Through
    /// a shell: setpriv keeps its capabilities until its own exec, so the path of a program it runs
    /// directly is looked up with root's permissions; the shell's exec is nobody's alone.
    /// </summary>
    private static Task<ProcessResult> AsNobodyAsync(params string[] cmd) =>
        ProcessRunner.RunAsync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "/bin/sh", "-c", "exec \"$@\"", "sh", .. cmd]);

    private static async Task<string> StatAsync(string format, string path)
    {
        var r = await ProcessRunner.RunAsync("stat", ["-c", format, path]);
        Assert.True(r.ExitCode == 0, r.ToString());
        return r.Stdout.Trim();
    }

    /// <summary>The setuid file exists as the attack needs it (root-owned, 4755) and nobody can neither run nor read it.</summary>
    private static async Task AssertUnreachableAsync(string file)
    {
        Assert.Equal("0 4755", await StatAsync("%u %a", file));
        var run = await AsNobodyAsync(file, "-p", "-c", "id -u");
        Assert.True(run.ExitCode != 0 && run.Stdout.Trim() != "0", $"{file} ran for nobody: {run}");
        Assert.Contains("Permission denied", run.Stderr);
        var read = await AsNobodyAsync("cat", file);
        Assert.True(read.ExitCode != 0 && read.Stdout.Length == 0, $"{file} readable by nobody: {read.ExitCode} {read.Stderr}");
    }

    /// <summary>The modes LXD gives a pool's tree, plus images/ and custom/ closed to everyone but root.</summary>
    private async Task AssertLayoutModesAsync(string pool, string instance, string snapshot)
    {
        var dir = PoolDir(pool);
        Assert.Equal("711", await StatAsync("%a", Path.Combine(dir, "containers")));
        Assert.Equal("0 100", await StatAsync("%u %a", Path.Combine(dir, "containers", instance)));
        Assert.Equal("711", await StatAsync("%a", Path.Combine(dir, "containers-snapshots")));
        Assert.Equal("700", await StatAsync("%a", Path.Combine(dir, "containers-snapshots", instance)));
        Assert.Equal("100", await StatAsync("%a", Path.Combine(dir, "containers-snapshots", instance, snapshot)));
        Assert.Equal("700", await StatAsync("%a", Path.Combine(dir, "images")));
        Assert.Equal("700", await StatAsync("%a", Path.Combine(dir, "custom")));
        Assert.Equal("700", await StatAsync("%a", Path.Combine(dir, "custom-snapshots")));
    }

    [Theory]
    [InlineData("default", false)]
    [InlineData("default", true)]
    [InlineData(HostAccessDaemon.Btrfs, false)]
    [InlineData(HostAccessDaemon.Btrfs, true)]
    public async Task A_setuid_root_file_made_in_a_container_cannot_be_run_by_host_users(string pool, bool privileged)
    {
        var name = $"ha-{(pool == "default" ? "dir" : "btrfs")}{(privileged ? "-priv" : "")}";
        await LxcOkAsync(["launch", "busybox", name, "-s", pool, .. privileged ? new[] { "-c", "security.privileged=true" } : []]);
        try
        {
            // The issue's reproduction.
            await LxcOkAsync("file", "push", "/bin/bash", $"{name}/tmp/b");
            await LxcOkAsync("exec", name, "--", "sh", "-c", "chown 0:0 /tmp/b; chmod 4755 /tmp/b");
            await LxcOkAsync("snapshot", name, "s0");

            // Control: nobody can run a setuid shell and reach the pool's type directories, so a
            // refusal below comes from the instance's own modes.
            Assert.Equal("65534", (await AsNobodyAsync("/bin/bash", "-p", "-c", "id -u")).Stdout.Trim());
            Assert.Equal(0, (await AsNobodyAsync("stat", Path.Combine(PoolDir(pool), "containers"))).ExitCode);

            await AssertUnreachableAsync(Path.Combine(PoolDir(pool), "containers", name, "rootfs", "tmp", "b"));
            await AssertUnreachableAsync(Path.Combine(PoolDir(pool), "containers-snapshots", name, "s0", "rootfs", "tmp", "b"));
            var images = await AsNobodyAsync("ls", Path.Combine(PoolDir(pool), "images"));
            Assert.True(images.ExitCode != 0, "the image cache is listable by nobody: " + images);
            await AssertLayoutModesAsync(pool, name, "s0");

            // The container still works behind the closed directories: restart, exec, files.
            await LxcOkAsync("restart", "--force", name);
            Assert.Equal("4755", (await LxcOkAsync("exec", name, "--", "stat", "-c", "%a", "/tmp/b")).Trim());
            await LxcOkAsync("file", "pull", $"{name}/etc/hostname", "-");
        }
        finally
        {
            await D.LxcAsync("delete", "--force", name);
        }
    }

    [Theory]
    [InlineData("default")]
    [InlineData(HostAccessDaemon.Btrfs)]
    public async Task Custom_volumes_and_their_snapshots_are_closed_to_host_users(string pool)
    {
        await LxcOkAsync("storage", "volume", "create", pool, "hv");
        try
        {
            // What a container with the volume attached could leave in it: a setuid-root shell.
            var file = Path.Combine(PoolDir(pool), "custom", "hv", "b");
            File.Copy("/bin/bash", file);
            File.SetUnixFileMode(file, (UnixFileMode)0b100_111_101_101);
            await LxcOkAsync("storage", "volume", "snapshot", pool, "hv", "s0");
            Assert.Equal("711", await StatAsync("%a", Path.GetDirectoryName(file)!));
            await AssertUnreachableAsync(file);
            await AssertUnreachableAsync(Path.Combine(PoolDir(pool), "custom-snapshots", "hv", "s0", "b"));
        }
        finally
        {
            await D.LxcAsync("storage", "volume", "delete", pool, "hv");
        }
    }

    [Fact]
    public async Task Startup_corrects_the_modes_of_an_existing_install()
    {
        const string name = "ha-old";
        await LxcOkAsync("launch", "busybox", name);
        try
        {
            await LxcOkAsync("file", "push", "/bin/bash", $"{name}/tmp/b");
            await LxcOkAsync("exec", name, "--", "sh", "-c", "chown 0:0 /tmp/b; chmod 4755 /tmp/b");
            await LxcOkAsync("snapshot", name, "s0");
            // As a release before this fix left them.
            var dir = PoolDir("default");
            foreach (var d in new[] { "containers", "containers-snapshots", "images", "custom", "custom-snapshots",
                                      $"containers/{name}", $"containers-snapshots/{name}", $"containers-snapshots/{name}/s0" })
            {
                File.SetUnixFileMode(Path.Combine(dir, d), (UnixFileMode)0b111_101_101);
            }
            var file = Path.Combine(dir, "containers", name, "rootfs", "tmp", "b");
            Assert.Equal("0", (await AsNobodyAsync(file, "-p", "-c", "id -u")).Stdout.Trim()); // the hole, as reported

            await D.StopAsync();
            await D.StartAsync();
            await AssertUnreachableAsync(file);
            await AssertLayoutModesAsync("default", name, "s0");
            await D.LxcAsync("start", name);
            Assert.Equal("4755", (await LxcOkAsync("exec", name, "--", "stat", "-c", "%a", "/tmp/b")).Trim());
        }
        finally
        {
            await D.LxcAsync("delete", "--force", name);
        }
    }
}

/// <summary>
/// The container side behind the pool's modes (root-owned 0711 above, 0100 on the instance
/// directory): start and exec with an idmapped rootfs and with the chown-shifted fallback,
/// unprivileged and privileged.
/// </summary>
[Collection("containers")]
public sealed class ClosedInstanceDirTests
{
    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    [InlineData(false, true)]
    public async Task A_container_starts_and_execs_under_a_0100_instance_directory(bool idmappedMounts, bool privileged)
    {
        var config = privileged ? new Dictionary<string, string> { ["security.privileged"] = "true" } : null;
        await using var c = await TestContainer.CreateAsync(config, start: false, idmappedMounts: idmappedMounts);
        File.SetUnixFileMode(c.Dir, (UnixFileMode)0b111_001_001);
        File.SetUnixFileMode(c.Spec.RootPath, UnixFileMode.UserExecute);
        await c.Driver.StartAsync(c.Spec, CancellationToken.None);
        var (code, output, err) = await c.ExecAsync("cat", "/etc/inittab");
        Assert.True(code == 0, err);
        Assert.Contains("hello-from-init", output);
        Assert.Equal("100", (await ProcessRunner.RunAsync("stat", ["-c", "%a", c.Spec.RootPath])).Stdout.Trim());
    }
}
