namespace Hyperlxd.Storage.Drivers;

/// <summary>
/// VM root volumes on dir: a directory whose <c>root.img</c> is a qcow2 overlay of the image volume's
/// disk, so a VM is created in milliseconds whatever the image's size and shares the image's blocks
/// (dir has no copy-on-write of its own). The rest of the image volume (metadata.yaml, templates/,
/// boot/) is copied. The overlay names its backing file by absolute path: snapshots (copies of the
/// directory), restores, renames and copies of the VM all keep pointing at the same image volume, which
/// the pool therefore keeps while any overlay uses it (<see cref="StoragePool.EvictImageAsync"/>).
/// </summary>
public sealed partial class DirDriver
{
    protected override bool VmVolumesBackOntoImages => true;

    private bool IsVmImage(Volume target, Volume source) =>
        target.Type == VolumeType.VirtualMachine && source.Type == VolumeType.Image && File.Exists(VmDisk.PathIn(VolumePath(source)));

    private async Task CreateVmOverlayVolumeAsync(Volume target, Volume image)
    {
        var path = VolumePath(target);
        Directory.CreateDirectory(path);
        var source = VolumePath(image);
        foreach (var entry in Directory.EnumerateFileSystemEntries(source))
        {
            if (Path.GetFileName(entry) != VmDisk.FileName)
            {
                await Host.CopyTreeAsync(entry, Path.Combine(path, Path.GetFileName(entry)));
            }
        }
        await VmDisk.CreateOverlayAsync(VmDisk.PathIn(source), VmDisk.PathIn(path));
        SecureVolume(target);
    }
}
