using System.Globalization;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Vms;

public sealed partial class VmDriver
{
    /// <summary>Type, mode, owner — then the entries of a directory or the target of a link (busybox and coreutils alike).</summary>
    private const string StatScript = """
        if [ -L "$1" ]; then t=l; elif [ -d "$1" ]; then t=d; elif [ -e "$1" ]; then t=f; else echo "$1: No such file or directory" >&2; exit 2; fi
        echo "$t $(stat -c '%a %u %g' -- "$1")" || exit 1
        if [ "$t" = d ]; then ls -1A -- "$1"; elif [ "$t" = l ]; then readlink -- "$1"; fi
        """;

    private const string DeleteScript = """
        if [ -d "$1" ] && [ ! -L "$1" ]; then rmdir -- "$1"; else rm -- "$1"; fi
        """;

    public async Task<InstanceFile> GetFileAsync(InstanceSpec spec, string path, CancellationToken ct)
    {
        var agent = await FileAgentAsync(spec, path, ct);
        try
        {
            var lines = (await agent.ShellAsync(StatScript, [path], ct)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var head = lines[0].Split(' ');
            var mode = Convert.ToUInt32(head[1], 8);
            var uid = uint.Parse(head[2], CultureInfo.InvariantCulture);
            var gid = uint.Parse(head[3], CultureInfo.InvariantCulture);
            return head[0] switch
            {
                "d" => new InstanceFile(FileType.Directory, uid, gid, mode, null, lines.Skip(1).ToList(), null),
                "l" => new InstanceFile(FileType.Symlink, uid, gid, mode, null, null, lines.Length > 1 ? lines[1] : ""),
                _ => new InstanceFile(FileType.File, uid, gid, mode, new MemoryStream(await agent.ReadFileAsync(path, ct), writable: false), null, null),
            };
        }
        catch (GuestAgentException e)
        {
            throw Failure(spec, e, $"Reading {path}");
        }
    }

    /// <summary>Files in 64 KiB agent writes; directories and links through the guest's shell; then mode and owner when given.</summary>
    public async Task PutFileAsync(InstanceSpec spec, string path, FileWrite write, Stream content, CancellationToken ct)
    {
        var agent = await FileAgentAsync(spec, path, ct);
        try
        {
            switch (write.Type)
            {
                case FileType.Directory:
                    await agent.ShellAsync("[ -d \"$1\" ] || mkdir -- \"$1\"", [path], ct);
                    break;
                case FileType.Symlink:
                    await agent.ShellAsync("ln -sfn -- \"$2\" \"$1\"", [path, write.Target ?? ""], ct);
                    break;
                default:
                    await agent.WriteFileAsync(path, content, write.Append, ct);
                    break;
            }
            var owner = write.Uid is null && write.Gid is null ? null
                : $"{write.Uid?.ToString(CultureInfo.InvariantCulture)}:{write.Gid?.ToString(CultureInfo.InvariantCulture)}";
            if (owner is not null)
            {
                await agent.ShellAsync(write.Type == FileType.Symlink ? "chown -h -- \"$2\" \"$1\"" : "chown -- \"$2\" \"$1\"", [path, owner], ct);
            }
            if (write.Mode is { } mode && write.Type != FileType.Symlink)
            {
                await agent.ShellAsync("chmod -- \"$2\" \"$1\"", [path, Convert.ToString(mode & 0xFFF, 8)], ct);
            }
        }
        catch (GuestAgentException e)
        {
            throw Failure(spec, e, $"Writing {path}");
        }
    }

    public async Task DeleteFileAsync(InstanceSpec spec, string path, CancellationToken ct)
    {
        var agent = await FileAgentAsync(spec, path, ct);
        try
        {
            await agent.ShellAsync(DeleteScript, [path], ct);
        }
        catch (GuestAgentException e)
        {
            throw Failure(spec, e, $"Deleting {path}");
        }
    }

    private async Task<GuestAgent> FileAgentAsync(InstanceSpec spec, string path, CancellationToken ct)
    {
        if (!path.StartsWith('/'))
        {
            throw new BadRequestException($"Invalid path \"{path}\": must be absolute");
        }
        return await GetStatusAsync(spec, ct) switch
        {
            InstanceStatus.Running => Agent(spec),
            InstanceStatus.Frozen => throw new BadRequestException("The instance is frozen"),
            _ => throw new BadRequestException("Files of a virtual machine are reached through its guest agent: the instance isn't running"),
        };
    }
}
