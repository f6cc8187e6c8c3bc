using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Hyperlxd.Tests.Infrastructure;

using static Hyperlxd.Tests.Conformance.LxcBackupTests;

namespace Hyperlxd.Tests.Conformance;

/// <summary>
/// <c>lxc export</c> / <c>lxc import</c> of a virtual machine in LXD 5.0.2's layout (config directories and raw
/// disks: <c>backup/virtual-machine.img</c>, <c>backup/virtual-machine-snapshots/SNAP.img</c>), booted back.
/// </summary>
public sealed class VmBackupTests(SharedVmFixture fixture) : IClassFixture<SharedVmFixture>
{
    private const string Vm = SharedVmFixture.Vm;

    private DaemonProcess D => fixture.Daemon;

    private Task<string> LxcOkAsync(params string[] args) => VmDaemon.LxcOkAsync(D, args);

    private string NewDir()
    {
        var dir = Path.Combine(D.Dir, "test-vmbackups-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static byte[] Head(string file, string member)
    {
        using var s = Open(file);
        using var reader = new TarReader(s);
        while (reader.GetNextEntry() is { } e)
        {
            if (e.Name == member)
            {
                var head = new byte[4];
                e.DataStream!.ReadExactly(head);
                return head;
            }
        }
        throw new InvalidOperationException(member + " not in " + file);
    }

    [Fact]
    public async Task Export_of_a_running_vm_imports_under_a_new_name_and_boots_with_its_disk_and_snapshot()
    {
        var dir = NewDir();
        var file = Path.Combine(dir, "vm1.tar.gz");
        try
        {
            await LxcOkAsync("config", "set", Vm, "user.tag=kept");
            await LxcOkAsync("exec", Vm, "--", "sh", "-c", "echo one > /mnt/disk/marker; sync");
            await LxcOkAsync("snapshot", Vm, "s0");
            await LxcOkAsync("exec", Vm, "--", "sh", "-c", "echo two > /mnt/disk/marker; sync");

            Assert.Contains("Backup exported successfully", await LxcOkAsync("export", Vm, file));
            var names = ReadNames(file);
            Assert.Equal("backup/index.yaml", names[0]);
            // LXD's order: a snapshot's config directory, its disk, then the volume's; disks are raw, never qcow2.
            var snapDisk = names.IndexOf("backup/virtual-machine-snapshots/s0.img");
            var disk = names.IndexOf("backup/virtual-machine.img");
            Assert.True(snapDisk > 0 && disk > snapDisk, string.Join(", ", names));
            Assert.Contains("backup/virtual-machine/backup.yaml", names);
            Assert.Contains("backup/virtual-machine/metadata.yaml", names);
            Assert.DoesNotContain(names, n => n.EndsWith("/root.img", StringComparison.Ordinal));
            Assert.NotEqual("QFI"u8.ToArray(), Head(file, "backup/virtual-machine.img")[..3]);
            Assert.Contains("type: virtual-machine", ReadText(file, "backup/index.yaml"));

            await LxcOkAsync("import", file, "vm1-back");
            Assert.Equal("virtual-machine", (await VmDaemon.ListJsonAsync(D, "vm1-back")).GetProperty("type").GetString());
            Assert.Equal("kept", (await LxcOkAsync("config", "get", "vm1-back", "user.tag")).Trim());
            Assert.Contains("s0", await LxcOkAsync("info", "vm1-back"));
            // The imported disk stands alone: no backing file on the image volume.
            var root = Path.Combine(D.Dir, "storage-pools", "default", "virtual-machines", "vm1-back", "root.img");
            var info = (await ProcessRunner.RunAsync("qemu-img", new[] { "info", "-U", root })).Stdout;
            Assert.Contains("file format: qcow2", info);
            Assert.DoesNotContain("backing file", info);

            await LxcOkAsync("start", "vm1-back");
            await VmDaemon.WaitForAgentAsync(D, "vm1-back");
            Assert.Equal("two", (await LxcOkAsync("exec", "vm1-back", "--", "cat", "/mnt/disk/marker")).Trim());
            await LxcOkAsync("restore", "vm1-back", "s0");
            await VmDaemon.WaitForAgentAsync(D, "vm1-back");
            Assert.Equal("one", (await LxcOkAsync("exec", "vm1-back", "--", "cat", "/mnt/disk/marker")).Trim());
            // The original is untouched and still running.
            Assert.Equal("two", (await LxcOkAsync("exec", Vm, "--", "cat", "/mnt/disk/marker")).Trim());
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "vm1-back");
            await D.LxcAsync("delete", $"{Vm}/s0");
            await D.LxcAsync("exec", Vm, "--", "rm", "-f", "/mnt/disk/marker");
            await D.LxcAsync("config", "unset", Vm, "user.tag");
            Directory.Delete(dir, true);
        }
    }

    [Theory]
    [InlineData("no-disk", "backup/virtual-machine.img is missing")]
    [InlineData("no-snapshot-disk", "backup/virtual-machine-snapshots/s0.img is missing")]
    [InlineData("optimized", "Optimized backups of virtual machines cannot be imported")]
    [InlineData("container-dir", "unexpected entry")]
    public async Task Broken_vm_tarballs_are_refused_and_make_nothing(string kind, string message)
    {
        var dir = NewDir();
        var file = Path.Combine(dir, kind + ".tar.gz");
        try
        {
            var index = "name: evilvm\nbackend: dir\npool: default\ntype: virtual-machine\n" +
                (kind == "no-snapshot-disk" ? "snapshots: [s0]\n" : "") + (kind == "optimized" ? "optimized: true\n" : "") +
                "config:\n  container:\n    name: evilvm\n    type: virtual-machine\n    architecture: x86_64\n    config: {}\n    devices: {}\n    profiles: [default]\n";
            await using (var fs = File.Create(file))
            await using (var gz = new GZipStream(fs, CompressionLevel.Fastest))
            await using (var tar = new TarWriter(gz, TarEntryFormat.Pax))
            {
                AddFile(tar, "backup/index.yaml", index);
                tar.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "backup/virtual-machine"));
                AddFile(tar, "backup/virtual-machine/metadata.yaml", "architecture: x86_64\n");
                if (kind == "no-snapshot-disk")
                {
                    AddFile(tar, "backup/virtual-machine-snapshots/s0/metadata.yaml", "architecture: x86_64\n");
                }
                if (kind == "container-dir")
                {
                    AddFile(tar, "backup/container/rootfs/x", "x");
                }
                if (kind != "no-disk")
                {
                    AddFile(tar, kind == "optimized" ? "backup/virtual-machine.bin" : "backup/virtual-machine.img", new string('\0', 4096));
                }
            }
            var r = await D.LxcAsync("import", file);
            Assert.NotEqual(0, r.ExitCode);
            Assert.Contains(message, r.Stderr);
            Assert.Equal(System.Net.HttpStatusCode.NotFound, (await D.Api.GetAsync("/1.0/instances/evilvm")).Status);
            Assert.False(Directory.Exists(Path.Combine(D.Dir, "storage-pools", "default", "virtual-machines", "evilvm")));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    private static void AddFile(TarWriter tar, string name, string text) =>
        tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(text)) });
}
