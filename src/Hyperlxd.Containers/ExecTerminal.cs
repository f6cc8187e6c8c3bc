using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Hyperlxd.Containers;

/// <summary>
/// The daemon's end of <c>hyperlxd-nsexec attach --tty-socket PATH</c> (native-shims/README.md): a
/// one-shot unix socket in the root-only runtime directory to which the helper's child sends the
/// master of the pty it made in the container's own devpts. A path rather than an inherited fd:
/// <see cref="Process"/> cannot hand one fd to one child.
/// </summary>
internal sealed class ExecTerminal : IDisposable
{
    private readonly Socket _listener;

    private ExecTerminal(Socket listener, string path)
    {
        _listener = listener;
        Path = path;
    }

    public string Path { get; }

    /// <summary>
    /// A socket in <c>RUNTIME_DIR/exec/</c>: a directory of its own, so that these never look like the
    /// <c>NAME.sock</c> of a container's monitor (reconcile treats those as containers).
    /// </summary>
    public static void RemoveLeftovers(string runtimeDir)
    {
        var dir = System.IO.Path.Combine(runtimeDir, "exec");
        if (Directory.Exists(dir))
        {
            foreach (var sock in Directory.EnumerateFiles(dir, "*.sock"))
            {
                File.Delete(sock);
            }
        }
    }

    public static ExecTerminal Listen(string runtimeDir)
    {
        var dir = System.IO.Path.Combine(runtimeDir, "exec");
        Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var path = System.IO.Path.Combine(dir, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)) + ".sock");
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(path));
            listener.Listen(1);
            return new ExecTerminal(listener, path);
        }
        catch
        {
            listener.Dispose();
            File.Delete(path);
            throw;
        }
    }

    /// <summary>
    /// The pty master, once the helper's child made the terminal. When the helper fails first (no devpts,
    /// entering failed) it exits 125 with <c>hyperlxd-nsexec: errno=N: MESSAGE</c> on stderr: that message
    /// is thrown as an <see cref="IOException"/> carrying the errno.
    /// </summary>
    public async Task<SafeFdHandle> ReceiveMasterAsync(Process helper, Task<string> helperStderr, CancellationToken ct)
    {
        using var conn = await AcceptAsync(helper, ct);
        Dispose(); // one connection only: the path goes now
        if (conn is null)
        {
            throw await FailureAsync(helper, helperStderr, "the helper did not connect", ct);
        }
        var sock = conn.SafeHandle;
        // The runtime dir is root-only; still, only the helper we started may hand us a terminal.
        if (Syscalls.PeerPid(sock) != helper.Id)
        {
            throw new IOException("Failed receiving the exec terminal: unexpected peer");
        }
        var one = new byte[1];
        while (true)
        {
            // Peek waits (asynchronously) for the one byte that carries the fd, or for EOF.
            await conn.ReceiveAsync(one, SocketFlags.Peek, ct);
            SafeFdHandle? fd = null;
            try
            {
                if (!Syscalls.TryReceiveFd(sock, out _, out fd))
                {
                    continue;
                }
                if (fd is null)
                {
                    // EOF without a terminal: the helper's child failed and reported it to the helper.
                    throw await FailureAsync(helper, helperStderr, "no terminal was sent", ct);
                }
                if (!Syscalls.IsPtyMaster(fd))
                {
                    throw new IOException("Failed receiving the exec terminal: not a pty master");
                }
                (var master, fd) = (fd, null);
                return master;
            }
            finally
            {
                fd?.Dispose();
            }
        }
    }

    /// <summary>The helper's connection, or null when it exited without one.</summary>
    private async Task<Socket?> AcceptAsync(Process helper, CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var accept = _listener.AcceptAsync(stop.Token).AsTask();
        if (await Task.WhenAny(accept, helper.WaitForExitAsync(ct)) != accept)
        {
            ct.ThrowIfCancellationRequested();
            // Exited: a connection it made is queued by now (connect completes synchronously), perhaps
            // with the master of a command that already finished. Stop the pending accept, then look.
            await stop.CancelAsync();
        }
        try
        {
            return await accept;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return _listener.Poll(0, SelectMode.SelectRead) ? await _listener.AcceptAsync(ct) : null;
        }
    }

    private static async Task<IOException> FailureAsync(Process helper, Task<string> helperStderr, string fallback, CancellationToken ct)
    {
        await helper.WaitForExitAsync(ct);
        if (HelperReport.TryParse(await helperStderr, out var errno, out var err))
        {
            return new IOException(err, errno);
        }
        return new IOException($"Failed setting up the exec terminal: {(err.Length > 0 ? err : fallback)} (exit status {helper.ExitCode})");
    }

    public void Dispose()
    {
        _listener.Dispose();
        File.Delete(Path);
    }
}
