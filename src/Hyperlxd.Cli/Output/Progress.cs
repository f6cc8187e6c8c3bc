using System.Diagnostics;
using System.Net;

namespace Hyperlxd.Cli.Output;

/// <summary>
/// "Transferring image: 42% (12.3MB/s)" on stderr, redrawn in place, only when stderr is a
/// terminal (scripts and tests get clean output).
/// </summary>
public sealed class Progress(string label, long total)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly bool _enabled = !Console.IsErrorRedirected;
    private long _lastDraw = -1;

    public void Report(long done)
    {
        if (!_enabled || _clock.ElapsedMilliseconds - _lastDraw < 100 && done < total)
        {
            return;
        }
        _lastDraw = _clock.ElapsedMilliseconds;
        var rate = done / Math.Max(_clock.Elapsed.TotalSeconds, 0.001) / 1e6;
        var pct = total > 0 ? $"{done * 100 / total}%" : $"{done / 1e6:0.0}MB";
        Console.Error.Write($"\r{label}: {pct} ({rate:0.00}MB/s)   ");
    }

    public void Done()
    {
        if (_enabled)
        {
            Console.Error.Write("\r" + new string(' ', label.Length + 30) + "\r");
        }
    }

    /// <summary>Reads that report progress.</summary>
    /// <param name="offset">Bytes already counted by earlier streams (the second part of a split upload).</param>
    public Stream Wrap(Stream inner, long offset = 0) => new ProgressStream(inner, this, offset);

    private sealed class ProgressStream(Stream inner, Progress progress, long offset) : Stream
    {
        private long _done = offset;

        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => Count(await inner.ReadAsync(buffer, ct));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

        private int Count(int n)
        {
            _done += n;
            progress.Report(_done);
            return n;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }
            base.Dispose(disposing);
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => _done; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

/// <summary>Streams a file as request content with a known length (so the server can check the size limit first).</summary>
public sealed class FileContent(Stream stream, long length) : HttpContent
{
    protected override Task SerializeToStreamAsync(Stream target, TransportContext? context) => stream.CopyToAsync(target);

    protected override bool TryComputeLength(out long len)
    {
        len = length;
        return true;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            stream.Dispose();
        }
        base.Dispose(disposing);
    }
}
