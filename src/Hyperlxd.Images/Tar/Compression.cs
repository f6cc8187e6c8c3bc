using System.Diagnostics;
using System.IO.Compression;
using Hyperlxd.Core;
using Hyperlxd.Interop.Linux;

namespace Hyperlxd.Images.Tar;

public enum FileKind
{
    Tar,
    Gzip,
    Xz,
    Zstd,
    Bzip2,
    Squashfs,
    Qcow2,
    Unknown,
}

/// <summary>Recognises image files by their magic bytes and opens a decompressed view of tarballs.</summary>
public static class Compression
{
    public static FileKind Detect(string path)
    {
        Span<byte> head = stackalloc byte[512];
        using var f = File.OpenRead(path);
        var n = f.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        head = head[..n];
        if (head.StartsWith(new byte[] { 0x1f, 0x8b })) return FileKind.Gzip;
        if (head.StartsWith(new byte[] { 0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00 })) return FileKind.Xz;
        if (head.StartsWith(new byte[] { 0x28, 0xb5, 0x2f, 0xfd })) return FileKind.Zstd;
        if (head.StartsWith("BZh"u8)) return FileKind.Bzip2;
        if (head.StartsWith("hsqs"u8)) return FileKind.Squashfs;
        if (head.StartsWith(new byte[] { (byte)'Q', (byte)'F', (byte)'I', 0xfb })) return FileKind.Qcow2;
        if (n >= 262 && head.Slice(257, 5).SequenceEqual("ustar"u8)) return FileKind.Tar;
        return FileKind.Unknown;
    }

    /// <summary>
    /// A stream of the uncompressed tar. xz and bzip2 go through the reference tools (xz-utils,
    /// bzip2): .NET has no xz reader, and a child process streams as well as a library would.
    /// Dispose checks the tool's exit status, so a corrupt tail is an error too.
    /// </summary>
    public static Stream OpenTar(string path, FileKind kind)
    {
        switch (kind)
        {
            case FileKind.Tar:
                return File.OpenRead(path);
            case FileKind.Gzip:
                return new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
            case FileKind.Zstd:
                return new ZstdSharp.DecompressionStream(File.OpenRead(path));
            case FileKind.Xz:
                return new ToolStream("xz", path);
            case FileKind.Bzip2:
                return new ToolStream("bzip2", path);
            default:
                throw new BadRequestException("Unsupported compression: the image is not a tarball (tar, gzip, xz, bzip2 or zstd)");
        }
    }

    /// <summary>stdout of <c>tool -dc file</c>; reading past the end checks the exit code.</summary>
    private sealed class ToolStream : ReadOnlyStream
    {
        [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2213", Justification = "Dispose disposes it through HostCommand.DisposeWithPipes, which closes its redirected pipes first")]
        private readonly Process _process;
        private readonly Stream _out;
        private readonly string _tool;

        public ToolStream(string tool, string path)
        {
            _tool = tool;
            _process = HostCommand.Start(tool, ["-dc", path], HostCommandOptions.Default, Redirect.Stdout | Redirect.Stderr);
            _process.ErrorDataReceived += (_, _) => { };
            _process.BeginErrorReadLine();
            _out = _process.StandardOutput.BaseStream;
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = _out.Read(buffer, offset, count);
            if (n == 0 && count > 0)
            {
                _process.WaitForExit();
                if (_process.ExitCode != 0)
                {
                    throw new InvalidDataException($"{_tool} reports a corrupt or truncated stream (exit code {_process.ExitCode})");
                }
            }
            return n;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                if (!_process.HasExited)
                {
                    HostCommand.Kill(_process);
                }
                _process.WaitForExit();
                _process.DisposeWithPipes();
            }
            base.Dispose(disposing);
        }
    }
}
