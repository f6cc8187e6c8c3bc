using System.Text;
using Hyperlxd.Core;
using Hyperlxd.Core.Instances;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Containers;

/// <summary>The file API on running containers goes through the broker inside them: their own mounts, their ids.</summary>
[Collection("containers")]
public sealed class ContainerFileTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    private static MemoryStream Text(string s) => new(Encoding.UTF8.GetBytes(s));

    private static FileWrite File_(uint? uid = null, uint? gid = null, uint? mode = null, bool append = false) =>
        new(FileType.File, uid, gid, mode, append, null);

    private static async Task<string> ReadAsync(InstanceFile f)
    {
        using var reader = new StreamReader(f.Content!);
        return await reader.ReadToEndAsync();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Push_pull_list_delete_on_a_tmpfs_the_container_mounted_itself(bool privileged)
    {
        await using var c = await TestContainer.CreateAsync(privileged ? new() { ["security.privileged"] = "true" } : null);
        Assert.Equal(0, (await c.ExecAsync("mount", "-t", "tmpfs", "tmpfs", "/tmp")).Code);

        await c.Driver.PutFileAsync(c.Spec, "/tmp/hello", File_(1000, 1001, 0x180), Text("hi"), None);
        await c.Driver.PutFileAsync(c.Spec, "/tmp/hello", File_(append: true), Text(" there"), None);
        Assert.Equal("1000:1001 600 hi there", (await c.ExecAsync("sh", "-c", "echo $(stat -c '%u:%g %a' /tmp/hello) $(cat /tmp/hello)")).Out.Trim());
        Assert.False(File.Exists(Path.Combine(c.RootFs, "tmp", "hello"))); // on the container's tmpfs, not the rootfs
        await using (var f = await c.Driver.GetFileAsync(c.Spec, "/tmp/hello", None))
        {
            Assert.Equal((FileType.File, 1000u, 1001u, 0x180u, "hi there"), (f.Type, f.Uid, f.Gid, f.Mode, await ReadAsync(f)));
        }
        await c.Driver.PutFileAsync(c.Spec, "/tmp/d", new FileWrite(FileType.Directory, 1000, null, 0x1C0, false, null), Stream.Null, None);
        await c.Driver.PutFileAsync(c.Spec, "/tmp/l", new FileWrite(FileType.Symlink, null, null, null, false, "hello"), Stream.Null, None);
        var dir = await c.Driver.GetFileAsync(c.Spec, "/tmp", None);
        Assert.Equal(FileType.Directory, dir.Type);
        Assert.Equal(new[] { "d", "hello", "l" }, dir.Entries);
        var d = await c.Driver.GetFileAsync(c.Spec, "/tmp/d", None);
        Assert.Equal((1000u, 0u, 0x1C0u), (d.Uid, d.Gid, d.Mode));
        Assert.Equal((FileType.Symlink, "hello"), (await c.Driver.GetFileAsync(c.Spec, "/tmp/l", None)) is var l ? (l.Type, l.Target) : default);

        foreach (var path in new[] { "/tmp/l", "/tmp/d", "/tmp/hello" })
        {
            await c.Driver.DeleteFileAsync(c.Spec, path, None);
        }
        Assert.Equal("", (await c.ExecAsync("ls", "-A", "/tmp")).Out.Trim());
        var missing = await Assert.ThrowsAsync<NotFoundException>(() => c.Driver.GetFileAsync(c.Spec, "/tmp/hello", None));
        Assert.Equal("File not found: \"/tmp/hello\"", missing.Message);
        Assert.Empty(BrokerChildren());
    }

    [Fact]
    public async Task The_containers_own_dev_is_reachable()
    {
        await using var c = await TestContainer.CreateAsync();
        await c.Driver.PutFileAsync(c.Spec, "/dev/hello", File_(1000, 1000), Text("from the api"), None);
        Assert.Equal("from the api", (await c.ExecAsync("cat", "/dev/hello")).Out);
        Assert.Equal("1000", (await c.ExecAsync("stat", "-c", "%u", "/dev/hello")).Out.Trim());
        Assert.Contains("hello", (await c.Driver.GetFileAsync(c.Spec, "/dev", None)).Entries!);
        Assert.Contains("shm", (await c.Driver.GetFileAsync(c.Spec, "/dev", None)).Entries!);
        Assert.False(File.Exists(Path.Combine(c.RootFs, "dev", "hello")));
        // Device nodes are neither read nor written.
        var bad = await Assert.ThrowsAsync<BadRequestException>(() => c.Driver.GetFileAsync(c.Spec, "/dev/null", None));
        Assert.Contains("is not a regular file", bad.Message);
        await Assert.ThrowsAsync<BadRequestException>(() => c.Driver.PutFileAsync(c.Spec, "/dev/null", File_(), Text("x"), None));
        await Assert.ThrowsAsync<BadRequestException>(() => c.Driver.PutFileAsync(c.Spec, "/dev", File_(), Text("x"), None));
        // An id outside the container's map is bad input, and nothing is half-applied: no new node, the old file whole.
        await Assert.ThrowsAsync<BadRequestException>(() => c.Driver.PutFileAsync(c.Spec, "/dev/shm/x", File_(70000), Text("x"), None));
        await Assert.ThrowsAsync<BadRequestException>(() => c.Driver.PutFileAsync(c.Spec, "/dev/hello", File_(gid: 70000), Text("x"), None));
        await Assert.ThrowsAsync<BadRequestException>(() => c.Driver.PutFileAsync(c.Spec, "/dev/shm/d",
            new FileWrite(FileType.Directory, 70000, null, null, false, null), Stream.Null, None));
        await Assert.ThrowsAsync<BadRequestException>(() => c.Driver.PutFileAsync(c.Spec, "/dev/hello",
            new FileWrite(FileType.Symlink, 70000, null, null, false, "x"), Stream.Null, None));
        Assert.Equal("/ from the api 1000", (await c.ExecAsync("sh", "-c", "echo $(ls -A /dev/shm) / $(cat /dev/hello) $(stat -c %u /dev/hello)")).Out.Trim());
    }

    [Fact]
    public async Task Paths_and_links_made_inside_the_running_container_never_lead_out()
    {
        await using var c = await TestContainer.CreateAsync();
        var victimDir = Repo.TempDir("hlx-victim-");
        var victim = Path.Combine(victimDir, "victim.txt");
        await File.WriteAllTextAsync(victim, "host file\n");
        var hostShadow = await File.ReadAllBytesAsync("/etc/shadow");
        try
        {
            // Links on the container's own tmpfs (/dev/shm) to host paths, absolute, relative and magic.
            Assert.Equal(0, (await c.ExecAsync("sh", "-c",
                $"cd /dev/shm && ln -s /etc etc && ln -s {victimDir} dir && ln -s {victim} abs && " +
                $"ln -s ../../../../../../..{victim} rel && ln -s /proc/1/root/etc magic")).Code);
            foreach (var path in new[] { "../../etc/shadow", "/dev/shm/../../../../etc/shadow", "/dev/shm/etc/shadow", "/dev/shm/dir/victim.txt",
                         "/dev/shm/abs", "/dev/shm/rel", "/dev/shm/magic/shadow" })
            {
                try
                {
                    await c.Driver.PutFileAsync(c.Spec, path, File_(), Text("pwned\n"), None);
                    await using var f = await c.Driver.GetFileAsync(c.Spec, path, None);
                    Assert.NotEqual("host file\n", f.Content is null ? "" : await ReadAsync(f));
                }
                catch (Exception e) when (e is NotFoundException or BadRequestException)
                {
                    // The host path does not exist inside the container (or is a magic link): refused.
                }
            }
            var magic = await Assert.ThrowsAsync<BadRequestException>(() => c.Driver.GetFileAsync(c.Spec, "/dev/shm/magic/shadow", None));
            Assert.Contains("it is a symlink", magic.Message);
            Assert.Equal("host file\n", await File.ReadAllTextAsync(victim));
            Assert.Single(Directory.GetFiles(victimDir));
            Assert.Equal(hostShadow, await File.ReadAllBytesAsync("/etc/shadow"));
            Assert.Equal("pwned", (await c.ExecAsync("cat", "/etc/shadow")).Out.Trim()); // where ".." and the /etc link lead
        }
        finally
        {
            Directory.Delete(victimDir, true);
        }
    }

    [Fact]
    public async Task Stopped_containers_use_the_rootfs_with_ids_translated_through_the_shift()
    {
        await using var c = await TestContainer.CreateAsync(idmappedMounts: false);
        Assert.Equal(0, (await c.ExecAsync("sh", "-c", "mount -t tmpfs tmpfs /tmp && echo x > /tmp/on-tmpfs")).Code);
        await c.Driver.StopAsync(c.Spec, true, TimeSpan.Zero, None);

        await Assert.ThrowsAsync<NotFoundException>(() => c.Driver.GetFileAsync(c.Spec, "/tmp/on-tmpfs", None));
        await c.Driver.PutFileAsync(c.Spec, "/root/stopped.txt", File_(1000, 1000), Text("while stopped"), None);
        await c.Driver.PutFileAsync(c.Spec, "/root/default.txt", File_(), Text("root's"), None);
        await Assert.ThrowsAsync<BadRequestException>(() => c.Driver.PutFileAsync(c.Spec, "/root/unmapped.txt", File_(70000), Text("x"), None));
        Assert.False(File.Exists(Path.Combine(c.RootFs, "root", "unmapped.txt")));
        Assert.Equal("1001000 1001000", (await ProcessRunner.RunAsync("stat", ["-c", "%u %g", Path.Combine(c.RootFs, "root", "stopped.txt")])).Stdout.Trim());
        await using (var f = await c.Driver.GetFileAsync(c.Spec, "/root/stopped.txt", None))
        {
            Assert.Equal((1000u, 1000u, "while stopped"), (f.Uid, f.Gid, await ReadAsync(f)));
        }
        await c.Driver.StartAsync(c.Spec, None);
        Assert.Equal("1000:1000 0:0", (await c.ExecAsync("sh", "-c", "echo $(stat -c %u:%g /root/stopped.txt) $(stat -c %u:%g /root/default.txt)")).Out.Trim());
    }

    [Fact]
    public async Task A_frozen_container_still_serves_files()
    {
        await using var c = await TestContainer.CreateAsync();
        await c.Driver.FreezeAsync(c.Spec, None);
        try
        {
            await c.Driver.PutFileAsync(c.Spec, "/dev/frozen", File_(), Text("cold"), None);
            await using var f = await c.Driver.GetFileAsync(c.Spec, "/dev/frozen", None);
            Assert.Equal("cold", await ReadAsync(f));
        }
        finally
        {
            await c.Driver.UnfreezeAsync(c.Spec, None);
        }
        Assert.Equal("cold", (await c.ExecAsync("cat", "/dev/frozen")).Out);
    }

    [Fact]
    public async Task Concurrent_requests_each_get_their_own_broker_and_none_is_left()
    {
        await using var c = await TestContainer.CreateAsync();
        await Task.WhenAll(Enumerable.Range(0, 64).Select(async i =>
        {
            await c.Driver.PutFileAsync(c.Spec, $"/dev/shm/f{i}", File_(), Text($"content {i}"), None);
            await using var f = await c.Driver.GetFileAsync(c.Spec, $"/dev/shm/f{i}", None);
            Assert.Equal($"content {i}", await ReadAsync(f));
        }));
        Assert.Equal(64, (await c.Driver.GetFileAsync(c.Spec, "/dev/shm", None)).Entries!.Count);
        Assert.Empty(BrokerChildren());
    }

    /// <summary>Children of this test process that are still file brokers (not ended or not reaped); prepared exec helpers are not brokers.</summary>
    private static List<int> BrokerChildren()
    {
        var me = Environment.ProcessId.ToString();
        var result = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (fields[1] == me && stat.Contains("(hyperlxd-nsexec)") && File.ReadAllText(Path.Combine(dir, "cmdline")).Contains("file-broker"))
                {
                    result.Add(pid);
                }
            }
            catch (IOException)
            {
            }
        }
        return result;
    }
}
