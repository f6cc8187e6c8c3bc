namespace Hyperlxd.Interop.Libvirt;

/// <summary>
/// A libvirt stream (virStreamPtr) as a <see cref="Stream"/>: the bytes of a domain console once
/// <see cref="LibvirtDomain.OpenConsole"/> attached it. Read returns 0 at the end of the stream (the
/// console closed: the domain stopped). Reads and writes are cancellable; one reader and one writer may
/// run at once. Dispose aborts the stream (virStreamAbort) and frees it; pending reads/writes then fail
/// with <see cref="ObjectDisposedException"/>. Failures throw <see cref="LibvirtException"/>.
/// </summary>
public sealed partial class LibvirtStream : Stream
{
    private readonly StreamHandle _handle;

    internal LibvirtStream(StreamHandle handle)
    {
        _handle = handle;
    }

    internal StreamHandle Handle => _handle;

    public override bool CanRead => !_handle.IsClosed;

    public override bool CanWrite => !_handle.IsClosed;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(Span<byte> buffer)
    {
        while (true)
        {
            var n = TryRecv(buffer);
            if (n != WouldBlock)
            {
                return n;
            }
            WaitAsync(Native.VIR_STREAM_EVENT_READABLE, CancellationToken.None).GetAwaiter().GetResult();
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var n = TryRecv(buffer.Span);
            if (n != WouldBlock)
            {
                return n;
            }
            await WaitAsync(Native.VIR_STREAM_EVENT_READABLE, cancellationToken);
        }
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            var n = TrySend(buffer);
            if (n == WouldBlock)
            {
                WaitAsync(Native.VIR_STREAM_EVENT_WRITABLE, CancellationToken.None).GetAwaiter().GetResult();
                continue;
            }
            buffer = buffer[n..];
        }
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (!buffer.IsEmpty)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var n = TrySend(buffer.Span);
            if (n == WouldBlock)
            {
                await WaitAsync(Native.VIR_STREAM_EVENT_WRITABLE, cancellationToken);
                continue;
            }
            buffer = buffer[n..];
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Release();
        }
        base.Dispose(disposing);
    }
}
