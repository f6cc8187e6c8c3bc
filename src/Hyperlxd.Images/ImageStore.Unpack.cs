using System.Diagnostics;
using Hyperlxd.Core;
using Hyperlxd.Images.Tar;

namespace Hyperlxd.Images;

/// <summary><see cref="Core.Images.IImageSource"/>: the storage tier asks for an image laid out as an LXD image volume.</summary>
public sealed partial class ImageStore
{
    public async Task UnpackAsync(string fingerprint, string targetDir, CancellationToken ct)
    {
        var fp = await ResolveAsync(fingerprint, ct);
        var main = PathOf(fp);
        var rootfs = RootfsPathOf(fp);
        Directory.CreateDirectory(targetDir);
        await Task.Run(() =>
        {
            using (var tar = Compression.OpenTar(main, Compression.Detect(main)))
            {
                // Split metadata tarballs hold only metadata.yaml and templates/; unified ones hold all.
                TarExtractor.Extract(tar, targetDir, p => p);
            }
            if (!File.Exists(rootfs))
            {
                return;
            }
            var kind = Compression.Detect(rootfs);
            switch (kind)
            {
                case FileKind.Qcow2:
                    File.Copy(rootfs, Path.Combine(targetDir, "root.img"));
                    break;
                case FileKind.Squashfs:
                    RunUnsquashfs(rootfs, Path.Combine(targetDir, "rootfs"));
                    break;
                default:
                    Directory.CreateDirectory(Path.Combine(targetDir, "rootfs"));
                    using (var tar = Compression.OpenTar(rootfs, kind))
                    {
                        TarExtractor.Extract(tar, Path.Combine(targetDir, "rootfs"), p => p);
                    }
                    break;
            }
        }, ct);
        // Unified VM images carry rootfs.img; the volume layout calls it root.img.
        var img = Path.Combine(targetDir, "rootfs.img");
        if (File.Exists(img))
        {
            File.Move(img, Path.Combine(targetDir, "root.img"));
        }
    }

    private static void RunUnsquashfs(string file, string dest)
    {
        var psi = new ProcessStartInfo("unsquashfs") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-f", "-n", "-d", dest, file })
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Core.Processes.ChildProcesses.Start(psi); // dies with the daemon
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new BadRequestException($"Failed unpacking squashfs rootfs: {err.Result.Trim()}");
        }
    }
}
