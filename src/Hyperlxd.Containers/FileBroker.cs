using System.Buffers.Binary;
using System.Text;
using Hyperlxd.Containers.Interop;
using static Hyperlxd.Containers.Interop.Syscalls;

namespace Hyperlxd.Containers;

internal enum FileOp : uint
{
    Get = 1,
    Put = 2,
    Mkdir = 3,
    Symlink = 4,
    Delete = 5,
}

/// <summary>A broker's answer: the node's stat as the broker sees it, the payload, and an fd the caller now owns (or -1).</summary>
internal sealed record BrokerReply(uint Mode, uint Uid, uint Gid, ulong Size, byte[] Data, int Fd);

/// <summary>
/// Client of the native file broker (<c>hyperlxd-nsexec attach --pid N --file-broker 3</c> inside a running
/// container, <c>file-broker --root DIR --fd 3</c> on a stopped one's rootfs; protocol in native-shims/README.md).
/// One helper process per instance, spoken to over a socketpair; every path resolves inside the container's
/// root there, and opened files come back as fds that the daemon reads and writes itself.
/// </summary>
internal sealed class FileBroker : IDisposable
{
    public const uint None = uint.MaxValue;
    private const int ReqSize = 36, ReplySize = 32, BrokerFd = 3;

    private readonly int _sock;
    private readonly int _pid;
    private readonly CancellationToken _ct;
    private readonly CancellationTokenRegistration _cancel;
    private bool _ready;
    private bool _reaped;
    private bool _disposed;

    private FileBroker(string nsexec, IReadOnlyList<string> args, CancellationToken ct)
    {
        var (mine, theirs) = SocketPair();
        try
        {
            _pid = Spawn(nsexec, args, theirs, BrokerFd);
        }
        catch
        {
            _ = Close(mine);
            throw;
        }
        finally
        {
            _ = Close(theirs);
        }
        _sock = mine;
        // A cancelled request kills the broker: a blocked read then sees EOF.
        _ct = ct;
        _cancel = ct.Register(() => Kill(_pid, 9));
    }

    /// <summary>Inside the running container whose init is <paramref name="pid"/>: its mounts, its ids.</summary>
    public static FileBroker Attach(string nsexec, int pid, CancellationToken ct) =>
        new(nsexec, ["attach", "--pid", pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "--file-broker", "3"], ct);

    /// <summary>On a directory seen from the host (ids are the disk's).</summary>
    public static FileBroker OnRoot(string nsexec, string root, CancellationToken ct) => new(nsexec, ["file-broker", "--root", root, "--fd", "3"], ct);

    /// <summary>
    /// One request. <paramref name="uid"/>/<paramref name="gid"/>/<paramref name="mode"/> <see cref="None"/>: keep an
    /// existing node's, or <paramref name="defUid"/>/<paramref name="defGid"/> and 0644/0755 for a new one.
    /// Errors are thrown as the API's (ENOENT 404, bad input 400, the rest 500).
    /// </summary>
    public BrokerReply Call(FileOp op, string path, uint uid = None, uint gid = None, uint mode = None, bool append = false,
        string? target = null, uint defUid = 0, uint defGid = 0)
    {
        var p = Encoding.UTF8.GetBytes(path);
        var t = Encoding.UTF8.GetBytes(target ?? "");
        var req = new byte[ReqSize + p.Length + t.Length];
        var fields = new[] { (uint)op, append ? 1u : 0u, uid, gid, defUid, defGid, mode, (uint)p.Length, (uint)t.Length };
        for (var i = 0; i < fields.Length; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(req.AsSpan(i * 4), fields[i]);
        }
        p.CopyTo(req, ReqSize);
        t.CopyTo(req, ReqSize + p.Length);
        // Sent before the hello is read: the broker answers both in order, no extra round trip.
        var sent = WriteAll(req);
        if (!_ready)
        {
            var hello = Receive();
            if (hello.Err != 0)
            {
                throw new BrokerStartException(hello.Err, hello.Message);
            }
            _ready = true;
        }
        if (sent < 0)
        {
            Check(sent, "Failed sending a file request");
        }
        var r = Receive();
        if (r.Err != 0)
        {
            throw r.Err switch
            {
                ENOENT => new NotFoundException(r.Message),
                EXDEV => new ForbiddenException(r.Message),
                EINVAL or ELOOP or EISDIR or ENOTDIR or EEXIST or ENOTEMPTY or ENAMETOOLONG => new BadRequestException(r.Message),
                _ => new IOException(r.Message, r.Err),
            };
        }
        return r.Reply;
    }

    private int WriteAll(byte[] data)
    {
        for (var off = 0; off < data.Length;)
        {
            var n = Write(_sock, data.AsSpan(off));
            if (n < 0)
            {
                return n;
            }
            off += n;
        }
        return 0;
    }

    private (int Err, string Message, BrokerReply Reply) Receive()
    {
        var head = new byte[ReplySize];
        var fd = -1;
        try
        {
            for (var got = 0; got < ReplySize;)
            {
                var n = ReceiveWithFd(_sock, head.AsSpan(got), ref fd);
                Check(n < 0 ? n : 0, "Failed reading the file broker's reply");
                if (n == 0)
                {
                    throw new IOException("Failed accessing the instance's files: the file broker exited" + ExitStatus());
                }
                got += n;
            }
            var s = head.AsSpan();
            var err = BinaryPrimitives.ReadInt32LittleEndian(s);
            var data = new byte[BinaryPrimitives.ReadUInt32LittleEndian(s[24..])];
            for (var got = 0; got < data.Length;)
            {
                var n = Read(_sock, data.AsSpan(got));
                Check(n < 0 ? n : 0, "Failed reading the file broker's reply");
                if (n == 0)
                {
                    throw new IOException("Failed accessing the instance's files: the file broker exited" + ExitStatus());
                }
                got += n;
            }
            if (err != 0)
            {
                return (err, Encoding.UTF8.GetString(data), null!);
            }
            var reply = new BrokerReply(BinaryPrimitives.ReadUInt32LittleEndian(s[4..]), BinaryPrimitives.ReadUInt32LittleEndian(s[8..]),
                BinaryPrimitives.ReadUInt32LittleEndian(s[12..]), BinaryPrimitives.ReadUInt64LittleEndian(s[16..]), data, fd);
            fd = -1;
            return (0, "", reply);
        }
        finally
        {
            if (fd >= 0)
            {
                _ = Close(fd);
            }
        }
    }

    /// <summary>The broker hung up without an answer (it crashed or was killed): reaped here, its status for the message.</summary>
    private string ExitStatus()
    {
        _ct.ThrowIfCancellationRequested();
        _cancel.Dispose(); // no kill of a reaped (reusable) pid
        var status = WaitPid(_pid);
        _reaped = true;
        return status < 0 ? "" : (status & 0x7f) != 0 ? $" (signal {status & 0x7f})" : $" (status {(status >> 8) & 0xff})";
    }

    /// <summary>Closing the socket ends the broker; it is killed anyway (all answers are in) and reaped.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _cancel.Dispose();
        _ = Close(_sock);
        if (!_reaped)
        {
            Kill(_pid, 9);
            WaitPid(_pid);
            _reaped = true;
        }
    }
}

/// <summary>The broker could not start (the container stopped meanwhile: ESRCH; the root is missing...).</summary>
internal sealed class BrokerStartException(int errno, string message) : IOException(message, errno)
{
    public int Errno { get; } = errno;
}
