using System.Formats.Tar;
using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Images.Tar;

namespace Hyperlxd.Instances.Backups;

/// <summary>Virtual machine backups (<see cref="BackupLayout.VirtualMachine"/>), and the index read ahead of the layout it decides.</summary>
public static partial class BackupTarball
{
    /// <summary>
    /// Reads only <c>backup/index.yaml</c> (LXD writes it first, so this stops early): its <c>type</c> decides the
    /// layout the whole tarball is then checked against (<see cref="Inspect"/>).
    /// </summary>
    public static BackupIndex ReadIndexOnly(string file, SizeBudget budget)
    {
        BackupIndex? index = null;
        Rewrap(() =>
        {
            try
            {
                Scan();
            }
            catch (Exception e) when (e is FormatException or EndOfStreamException or IOException or ArgumentException)
            {
                throw new BadRequestException($"Invalid backup tarball: {e.Message}", e);
            }
        });
        return index ?? throw new BadRequestException("Invalid backup tarball: backup/index.yaml is missing");

        void Scan()
        {
            using var tar = Compression.OpenTar(file, Compression.Detect(file));
            using var reader = new TarReader(tar, leaveOpen: true);
            while (index is null && reader.GetNextEntry() is { } entry)
            {
                budget.Charge(entry.Length); // what the reader decompresses to skip it: a bomb ahead of the index stops here
                if (SafeTar.Normalize(entry.Name, "backup tarball") == Index && entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile)
                {
                    index = ReadIndex(entry.DataStream);
                }
            }
        }
    }

    /// <summary>
    /// Writes a VM's tarball in LXD 5.0.2's order: each snapshot's config directory then its raw disk, the volume's
    /// config directory (with <c>backup.yaml</c>) then its raw disk. <paramref name="toRaw"/> writes a directory's
    /// disk as a raw file (the qcow2 <paramref name="diskName"/> in it is not archived as such).
    /// </summary>
    public static async Task WriteVmAsync(string target, string workDir, string indexYaml, string backupYaml,
        IReadOnlyList<(string Name, string Path)> snapshots, string volumePath, string diskName, Func<string, string, Task> toRaw, string compression, CancellationToken ct)
    {
        var layout = BackupLayout.VirtualMachine;
        Directory.CreateDirectory(Path.Combine(workDir, layout.Volume));
        await File.WriteAllTextAsync(Path.Combine(workDir, Index), indexYaml, ct);
        await File.WriteAllTextAsync(Path.Combine(workDir, layout.Volume, "backup.yaml"), backupYaml, ct);
        var args = new List<string> { "--create", "--file", target, "--format=posix", "--numeric-owner", "--xattrs", "--xattrs-include=*" };
        if (CompressionAlgorithms.TarOption(compression) is { } option)
        {
            args.Add(option);
        }
        var members = new List<string>();
        async Task AddAsync(string dir, string prefix, string block, string raw)
        {
            args.Add($"--exclude={Path.GetFullPath(Path.Combine(dir, diskName)).TrimStart('/')}");
            members.Add(Transform(args, dir, prefix));
            await toRaw(Path.Combine(dir, diskName), raw);
            members.Add(Transform(args, raw, block));
        }
        for (var i = 0; i < snapshots.Count; i++)
        {
            await AddAsync(snapshots[i].Path, layout.SnapshotDir(snapshots[i].Name), layout.SnapshotBlock(snapshots[i].Name), Path.Combine(workDir, $"{i}.img"));
        }
        var volumeMembers = members.Count;
        await AddAsync(volumePath, layout.Volume, layout.VolumeBlock, Path.Combine(workDir, "volume.img"));
        // The index first; backup.yaml goes into the volume's directory, ahead of its disk.
        args.AddRange(["--no-recursion", "-C", workDir, Index, "--recursion", "-C", "/"]);
        args.AddRange(members.Take(volumeMembers + 1));
        args.AddRange(["-C", workDir, layout.Volume + "/backup.yaml", "-C", "/", members[^1]]);
        await RunTarAsync(args, ct);
    }
}
