using System.Buffers.Binary;
using System.Formats.Tar;
using System.Text;
using Hyperlxd.Interop.Linux;

namespace Hyperlxd.Images.Tar;

/// <summary>
/// Extended attributes from GNU tar's PAX records (<c>SCHILY.xattr.NAME</c>), restored under the rules an
/// untrusted archive calls for: <c>user.*</c> on files and directories, <c>security.capability</c> (file
/// capabilities) on regular files only and only as a well-formed v2 set, or a v3 one whose namespace root is
/// uid 0 (the volume holds the image's ids: any other root id belongs to another host's map). Everything
/// else (<c>trusted.*</c>, other <c>security.*</c> such as SELinux/SMACK labels, ACLs) is skipped.
/// </summary>
public static class TarXattrs
{
    private const string Prefix = "SCHILY.xattr.";
    private const string Capability = "security.capability";
    private const uint RevisionMask = 0xFF000000, Revision2 = 0x02000000, Revision3 = 0x03000000, FlagsMask = 0x00FFFFFE;
    private const int Size2 = 20, Size3 = 24;

    /// <summary>Applies what may be applied; after the chown (which clears capabilities) and the chmod.</summary>
    public static void Restore(TarEntry entry, string path)
    {
        if (entry is not PaxTarEntry pax || entry.EntryType is TarEntryType.SymbolicLink or TarEntryType.HardLink)
        {
            return;
        }
        var regular = entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile;
        foreach (var (key, text) in pax.ExtendedAttributes)
        {
            if (!key.StartsWith(Prefix, StringComparison.Ordinal))
            {
                continue;
            }
            var name = key[Prefix.Length..];
            // The reader decoded the value as UTF-8: a value that did not survive that is not restored wrongly.
            if (text.Contains('\uFFFD') || name.Contains('\0'))
            {
                continue;
            }
            var value = Encoding.UTF8.GetBytes(text);
            if (name.StartsWith("user.", StringComparison.Ordinal) && name.Length > 5 && (regular || entry.EntryType == TarEntryType.Directory))
            {
                Set(path, name, value);
            }
            else if (name == Capability && regular && CapabilityAsV2(value) is { } caps)
            {
                Set(path, name, caps);
            }
        }
    }

    private const int E2BIG = 7, EINVAL = 22, ERANGE = 34, EOPNOTSUPP = 95;

    /// <summary>As tar: a filesystem without extended attributes (or this namespace) loses them, the unpack goes on.</summary>
    private static void Set(string path, string name, byte[] value)
    {
        try
        {
            Syscalls.LSetXattr(path, name, value);
        }
        catch (ErrnoException e) when (e.Errno == EOPNOTSUPP)
        {
        }
        catch (ErrnoException e) when (e.Errno is E2BIG or ERANGE or EINVAL)
        {
            throw new InvalidDataException($"extended attribute \"{name}\" cannot be set (its name or value is too long or invalid)");
        }
    }

    /// <summary>A v2 <c>vfs_cap_data</c> as is; a v3 one with root id 0 as the equivalent v2; anything else null.</summary>
    public static byte[]? CapabilityAsV2(byte[] value)
    {
        if (value.Length < 4)
        {
            return null;
        }
        var magic = BinaryPrimitives.ReadUInt32LittleEndian(value);
        if ((magic & FlagsMask) != 0)
        {
            return null;
        }
        switch (magic & RevisionMask)
        {
            case Revision2 when value.Length == Size2:
                return value;
            case Revision3 when value.Length == Size3 && BinaryPrimitives.ReadUInt32LittleEndian(value.AsSpan(Size2)) == 0:
                var v2 = value[..Size2];
                BinaryPrimitives.WriteUInt32LittleEndian(v2, Revision2 | (magic & 1));
                return v2;
            default:
                return null;
        }
    }
}
