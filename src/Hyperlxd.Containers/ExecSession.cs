using System.Diagnostics;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Containers;

/// <summary>
/// One <c>hyperlxd-nsexec attach</c> process. Non-interactive: its three pipes. Interactive: the master
/// of the pty the helper made in the container's devpts (<see cref="ExecTerminal"/>); the daemon holds
/// no slave, so reads end (EIO) once the command and whatever inherited its terminal are gone.
/// <paramref name="ended"/> runs once it is disposed (the driver then prepares the next helper).
/// </summary>
internal sealed class ExecSession(Process process, PtyStream? pty, Action? ended = null) : IExecSession
{
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2213", Justification = "DisposeAsync disposes it through HostCommand.DisposeWithPipes, which closes its redirected pipes first")]
    private readonly Process _process = process;
    private readonly PtyStream? _pty = pty;

    public Stream? Stdin => _pty is null ? _process.StandardInput.BaseStream : null;

    public Stream? Stdout => _pty is null ? _process.StandardOutput.BaseStream : null;

    public Stream? Stderr => _pty is null ? _process.StandardError.BaseStream : null;

    public Stream? Pty => _pty;

    public async Task<int> WaitAsync(CancellationToken ct)
    {
        await _process.WaitForExitAsync(ct);
        return _process.ExitCode;
    }

    /// <summary>To the command itself (the helper's only child), so SIGKILL/SIGSTOP reach it too.</summary>
    public void Signal(int signal)
    {
        if (_process.HasExited)
        {
            return;
        }
        var target = _process.Id;
        try
        {
            var children = File.ReadAllText($"/proc/{_process.Id}/task/{_process.Id}/children").Trim();
            if (children.Length > 0 && int.TryParse(children.Split(' ')[0], out var child))
            {
                target = child;
            }
        }
        catch (IOException)
        {
        }
        try
        {
            _ = Syscalls.Kill(target, signal); // false: it has exited meanwhile
        }
        catch (ErrnoException e) when (e.Errno == Errno.EINVAL)
        {
            // A signal number the kernel does not know, from the client's control channel: ignored, as LXD does.
        }
    }

    public void Resize(int width, int height)
    {
        if (_pty is not null)
        {
            try
            {
                Syscalls.Resize(_pty.Handle, width, height);
            }
            catch (ObjectDisposedException)
            {
                // a resize that raced the end of the session: nothing left to size
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            Signal(9);
            try
            {
                using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await _process.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }
        _pty?.Dispose();
        _process.DisposeWithPipes();
        ended?.Invoke();
    }
}

/// <summary>A pty master as a stream; EIO (no slave left) reads as end of stream. Blocking reads run on the thread pool.</summary>
internal sealed class PtyStream(SafeFdHandle fd) : Stream
{
    private readonly SafeFdHandle _fd = fd;

    public SafeFdHandle Handle => _fd;

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        try
        {
            return Syscalls.Read(_fd, buffer);
        }
        catch (ErrnoException e) when (e.Errno == Errno.EIO)
        {
            return 0;
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) =>
        new(Task.Factory.StartNew(() => Read(buffer.Span), ct, TaskCreationOptions.LongRunning, TaskScheduler.Default));

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            buffer = buffer[Syscalls.Write(_fd, buffer)..];
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct)
    {
        Write(buffer.AsSpan(offset, count));
        return Task.CompletedTask;
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _fd.Dispose();
        }
        base.Dispose(disposing);
    }
}
