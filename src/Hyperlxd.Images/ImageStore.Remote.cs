using System.Net;
using System.Net.Http.Headers;
using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Images.Simplestreams;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace Hyperlxd.Images;

/// <summary>
/// Remote sources: <c>source.type</c> "url" (a unified tarball at a URL) or "image" from a
/// simplestreams server. Downloads stream into the same <see cref="Upload"/> as a local upload,
/// so validation and commit are shared; a dropped connection resumes with an HTTP Range request.
/// </summary>
public sealed partial class ImageStore
{
    private static readonly HttpClient Http = new(new SocketsHttpHandler { AutomaticDecompression = DecompressionMethods.None })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    private static readonly ResiliencePipeline Retry = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            MaxRetryAttempts = 5,
            Delay = TimeSpan.FromMilliseconds(200),
            BackoffType = DelayBackoffType.Exponential,
            ShouldHandle = new PredicateBuilder().Handle<HttpRequestException>().Handle<IOException>()
                .Handle<TaskCanceledException>(e => !e.CancellationToken.IsCancellationRequested),
        })
        .Build();

    /// <param name="progress">Called with (bytes so far, total) while downloading.</param>
    public async Task<Image> PullAsync(ImagesPostSource source, ImportOptions opts, long limit, Action<long, long>? progress, CancellationToken ct)
    {
        await using var upload = BeginUpload(limit);
        string? expected = null;
        ImageSource? updateSource = null;
        switch (source.Type)
        {
            case "url":
                var url = RequireHttp(source.Url, "source.url");
                await DownloadAsync(upload, "metadata", url, -1, progress, ct);
                break;
            case "image":
                if (source.Protocol is not (null or "" or "simplestreams"))
                {
                    throw new BadRequestException($"Unsupported image source protocol \"{source.Protocol}\": only \"simplestreams\" is implemented");
                }
                var server = RequireHttp(source.Server, "source.server").ToString();
                var name = source.Fingerprint is { Length: > 0 } f ? f : source.Alias
                    ?? throw new BadRequestException("source.alias or source.fingerprint is required");
                var client = new SimplestreamsClient(Http, server);
                var found = await Retry.ExecuteAsync(async t => await client.FindAsync(name, source.ImageType ?? "container", t), ct);
                if ((await _repo.MatchAsync(found.Fingerprint, ct)).Contains(found.Fingerprint))
                {
                    throw new ConflictException("Image with same fingerprint already exists");
                }
                await DownloadAsync(upload, "metadata", client.UrlOf(found.Metadata.Path), found.Metadata.Size, progress, ct);
                if (found.Rootfs is { } rootfs)
                {
                    await DownloadAsync(upload, rootfs.Ftype == "disk-kvm.img" ? "rootfs.img" : "rootfs", client.UrlOf(rootfs.Path), rootfs.Size, progress, ct);
                }
                expected = found.Fingerprint;
                updateSource = new ImageSource { Alias = source.Alias ?? found.Fingerprint, Protocol = "simplestreams", Server = server, Certificate = "", ImageType = source.ImageType ?? "" };
                break;
            default:
                throw new BadRequestException($"Unsupported image source type \"{source.Type}\"");
        }
        var options = new ImportOptions
        {
            Filename = opts.Filename,
            Public = opts.Public,
            AutoUpdate = opts.AutoUpdate,
            Properties = opts.Properties,
            Profiles = opts.Profiles,
            Aliases = opts.Aliases,
            ExpectedFingerprint = expected,
            UpdateSource = updateSource,
        };
        return await ImportAsync(upload, options, ct);
    }

    private static Uri RequireHttp(string? value, string field) =>
        Uri.TryCreate(value, UriKind.Absolute, out var u) && u.Scheme is "http" or "https"
            ? u : throw new BadRequestException($"Invalid {field} \"{value}\": an http(s) URL is expected");

    /// <summary>One file into a new upload part; on a transient failure the retry asks for the rest (Range).</summary>
    private async Task DownloadAsync(Upload upload, string part, Uri url, long size, Action<long, long>? progress, CancellationToken ct)
    {
        upload.StartPart(part);
        await Retry.ExecuteAsync(async token =>
        {
            using var req = new HttpRequestMessage(HttpMethod.Get, url);
            var offset = upload.PartLength;
            if (offset > 0)
            {
                req.Headers.Range = new RangeHeaderValue(offset, null);
            }
            using var resp = await Http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, token);
            if (resp.StatusCode == HttpStatusCode.NotFound)
            {
                throw new NotFoundException($"Failed downloading image: {url} not found");
            }
            if ((int)resp.StatusCode >= 500)
            {
                throw new HttpRequestException($"Failed downloading image: {url}: {(int)resp.StatusCode}");
            }
            resp.EnsureSuccessStatusCode();
            if (offset > 0 && resp.StatusCode != HttpStatusCode.PartialContent)
            {
                throw new BadRequestException($"Failed downloading image: the server cannot resume {url} (no Range support)");
            }
            _logger.LogInformation("Downloading {Url} from byte {Offset}", url, offset);
            await using var body = await resp.Content.ReadAsStreamAsync(token);
            await upload.AppendAsync(new ProgressStream(body, n => progress?.Invoke(upload.PartLength + n, size)), token);
        }, ct);
        if (size >= 0 && upload.PartLength != size)
        {
            throw new BadRequestException($"Failed downloading image: {url} has {upload.PartLength} bytes, the index says {size}");
        }
    }

    /// <summary>Counts bytes read, for progress reporting.</summary>
    private sealed class ProgressStream(Stream inner, Action<long> report) : Stream
    {
        private long _read;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
        {
            var n = await inner.ReadAsync(buffer, ct);
            _read += n;
            report(_read);
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _read; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
