namespace Hyperlxd.Storage.Drivers;

/// <summary>
/// Who on the host may reach into a pool. With idmapped mounts a file owned by a container's root is
/// owned by uid 0 on disk, so a setuid binary made inside a container would run as host root for
/// any host user able to reach it. As LXD: the directories holding instance volumes are 0711 and
/// each instance volume (and snapshot) is 0100, so only root gets in; the per-volume snapshot
/// directories are 0700. Hyperlxd also closes <c>images/</c> and <c>custom/</c> (0700): a hostile
/// image or a custom volume must not hand host users a setuid file either, while the volume roots
/// keep LXD's 0711 (the mode a volume shows where it is mounted). The container side never walks
/// these paths as anything but host root (nsexec opens the rootfs before it switches ids).
/// Virtual machines differ: QEMU runs as <c>libvirt-qemu</c> and opens the disk (and on dir its
/// backing file in the image volume), the kernel and the initrd itself. A VM volume holds no files a
/// host user could run with privileges (a disk image, boot files, metadata), so VM volumes are 0711,
/// and on drivers whose VM disks back onto the image volume (dir) <c>images/</c> becomes 0711 too once
/// it holds a VM image — after every container image volume in it was closed (0700).
/// </summary>
public abstract partial class DriverBase
{
    private const UnixFileMode Traverse = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                                          | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute; // 0711
    protected const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute; // 0700
    private const UnixFileMode EnterOnly = UnixFileMode.UserExecute; // 0100

    /// <summary>Mode of each type directory under the pool's mount.</summary>
    private static UnixFileMode TypeDirMode(string dir) => dir is "custom" or "custom-snapshots" or "images" ? OwnerOnly : Traverse;

    /// <summary>Mode of a volume's own directory (and of its snapshots).</summary>
    protected static UnixFileMode VolumeMode(VolumeType t) => t is VolumeType.Container ? EnterOnly : Traverse;

    /// <summary>Whether VM root volumes are overlays of the image volume's disk (QEMU must reach into <c>images/</c>).</summary>
    protected virtual bool VmVolumesBackOntoImages => false;

    private const UnixFileMode Readable = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead; // 0644

    /// <summary>
    /// Modes of a freshly unpacked image volume, before it may become read-only: a container image 0700
    /// (its rootfs can hold setuid files), a VM image 0711 with its disk and boot files readable by QEMU.
    /// </summary>
    public void SecureImageVolume(Volume image)
    {
        var dir = VolumePath(image);
        if (!File.Exists(VmDisk.PathIn(dir)))
        {
            Chmod(dir, OwnerOnly);
            return;
        }
        Chmod(dir, Traverse);
        Chmod(VmDisk.PathIn(dir), Readable);
        var boot = Path.Combine(dir, "boot");
        if (Directory.Exists(boot) && new DirectoryInfo(boot).LinkTarget is null)
        {
            Chmod(boot, Traverse);
            foreach (var f in Directory.EnumerateFiles(boot).Where(f => new FileInfo(f).LinkTarget is null))
            {
                Chmod(f, Readable);
            }
        }
        OpenImagesToQemu();
    }

    /// <summary>On dir, <c>images/</c> opens (0711, never listable) once it holds a VM image, and only after each container image in it is 0700.</summary>
    private void OpenImagesToQemu()
    {
        var images = Path.Combine(Pool.MountPath, TypeDir(VolumeType.Image));
        var vmImages = Subdirectories(images).Where(d => File.Exists(VmDisk.PathIn(d))).ToList();
        if (!VmVolumesBackOntoImages || vmImages.Count == 0)
        {
            return;
        }
        foreach (var d in Subdirectories(images).Except(vmImages))
        {
            Chmod(d, OwnerOnly);
        }
        Chmod(images, Traverse);
    }

    /// <summary>Creates the type directories with their modes (new pool).</summary>
    protected void CreateLayout() => SecureLayout();

    /// <summary>
    /// Creates missing type directories and corrects the modes of the pool's tree: at pool creation
    /// and each time the daemon mounts the pool, so installs from before these modes are fixed too.
    /// Read-only subvolumes (btrfs images and snapshots) cannot change; the 0700 directories above
    /// them keep host users out.
    /// </summary>
    public void SecureLayout()
    {
        Chmod(Path.GetDirectoryName(Pool.MountPath)!, Traverse);
        Chmod(Pool.MountPath, Traverse);
        foreach (var d in TypeDirs)
        {
            var dir = Path.Combine(Pool.MountPath, d);
            Directory.CreateDirectory(dir);
            Chmod(dir, TypeDirMode(d));
        }
        OpenImagesToQemu();
        foreach (var type in new[] { VolumeType.Container, VolumeType.VirtualMachine, VolumeType.Custom })
        {
            SecureVolumes(Path.Combine(Pool.MountPath, TypeDir(type)), Path.Combine(Pool.MountPath, TypeDir(type) + "-snapshots"), type);
        }
        foreach (var dir in ProjectTypeDirs().Where(d => new DirectoryInfo(d).LinkTarget is null))
        {
            Chmod(dir, OwnerOnly);
            var snapshots = Path.GetFileName(dir).StartsWith(TypeDir(VolumeType.Custom) + "-snapshots", StringComparison.Ordinal);
            SecureVolumes(snapshots ? "" : dir, snapshots ? dir : "", VolumeType.Custom);
        }
    }

    private static void SecureVolumes(string volumes, string snapshots, VolumeType type)
    {
        foreach (var vol in Subdirectories(volumes))
        {
            TryChmod(vol, VolumeMode(type));
        }
        foreach (var parent in Subdirectories(snapshots))
        {
            Chmod(parent, OwnerOnly);
            foreach (var snap in Subdirectories(parent))
            {
                TryChmod(snap, VolumeMode(type));
            }
        }
    }

    /// <summary>A directory only root may enter, made when missing.</summary>
    private static void EnsureOwnerOnly(string dir)
    {
        if (!Directory.Exists(dir))
        {
            Directory.CreateDirectory(dir, OwnerOnly);
            Chmod(dir, OwnerOnly);
        }
    }

    /// <summary>Gives a new or copied volume its mode (before anything of an instance is written into it).</summary>
    protected void SecureVolume(Volume v) => Chmod(VolumePath(v), VolumeMode(v.Type));

    /// <summary>Creates the directory holding <paramref name="v"/>'s snapshots (0700) and returns the snapshot's path.</summary>
    protected string PrepareSnapshotPath(Volume v, string snapshot)
    {
        var path = SnapshotPath(v, snapshot);
        var parent = Path.GetDirectoryName(path)!;
        EnsureOwnerOnly(Path.GetDirectoryName(parent)!);
        Directory.CreateDirectory(parent, OwnerOnly);
        Chmod(parent, OwnerOnly);
        return path;
    }

    /// <summary>Directories only: a symlink planted in a type directory is never followed.</summary>
    private static IEnumerable<string> Subdirectories(string dir) =>
        dir.Length > 0 && Directory.Exists(dir)
            ? Directory.EnumerateDirectories(dir).Where(p => new DirectoryInfo(p).LinkTarget is null)
            : [];

    protected static void Chmod(string path, UnixFileMode mode)
    {
        if (File.GetUnixFileMode(path) != mode)
        {
            File.SetUnixFileMode(path, mode);
        }
    }

    /// <summary>chmod where the volume is writable; a read-only subvolume keeps its mode.</summary>
    private static void TryChmod(string path, UnixFileMode mode)
    {
        try
        {
            Chmod(path, mode);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
