//! Coverage of code run in mptest's processes (`-C instrument-coverage`: `cargo llvm-cov`, or
//! `RUSTFLAGS` of your own).
//!
//! LLVM's profile runtime starts in a static initializer and writes the process's profile at
//! `exit`. A child, an auxiliary or a manager takes its role in a constructor that runs *before*
//! those initializers and never returns, so in them the runtime would never start and no
//! profile would be written. So such a process starts it itself: if this binary is instrumented
//! (it has LLVM's `__llvm_prf_cnts` section), it finds the runtime's `__llvm_profile_initialize`
//! in its own symbol table — the symbol is hidden, so neither linking against it (mptest itself
//! may not be instrumented) nor `dlsym` can — and calls it. Every mptest process then writes
//! its profile when it exits, also a leftover ended with SIGTERM (it exits through `exit`),
//! unless it is killed with SIGKILL (a test's timeout, a leftover that ignores SIGTERM).
//!
//! An uninstrumented binary pays for one look at its section headers; a stripped instrumented
//! one (no symbol table) cannot be helped, and its role processes write no profile. The lookup
//! is Linux's (ELF, `getauxval`); elsewhere those processes write no profile (workers do).

#[cfg(all(target_os = "linux", not(mptest_portable)))]
use object::read::elf::{FileHeader, SectionHeader, Sym};
#[cfg(all(target_os = "linux", not(mptest_portable)))]
use object::{elf, Endianness};

/// In a process that takes its role before `main`: starts the profile runtime if the binary
/// has one.
pub(crate) fn start_before_main() {
    if let Some(initialize) = find_profile_initializer() {
        // SAFETY: compiler-rt's `void __llvm_profile_initialize(void)`, at its address in this
        // process (the load base plus its link-time address); called once, before any profile
        // is written, and its own static initializer never runs in this process.
        unsafe {
            let initialize: extern "C" fn() = std::mem::transmute(initialize);
            initialize();
        }
    }
}

/// Elsewhere there is no lookup (see the module's documentation).
#[cfg(not(all(target_os = "linux", not(mptest_portable))))]
fn find_profile_initializer() -> Option<usize> {
    None
}

/// Whether this binary is instrumented for coverage (it has LLVM's `__llvm_prf_cnts` section);
/// found once. Elsewhere: not known, so `true` (a caller then takes the path that is right
/// either way).
pub(crate) fn instrumented() -> bool {
    static INSTRUMENTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *INSTRUMENTED.get_or_init(has_counters_section)
}

#[cfg(not(all(target_os = "linux", not(mptest_portable))))]
fn has_counters_section() -> bool {
    true
}

#[cfg(all(target_os = "linux", not(mptest_portable)))]
fn has_counters_section() -> bool {
    counters_section().unwrap_or(true)
}

/// Whether the ELF file has a section `__llvm_prf_cnts`, from three reads at known offsets
/// (the header, the section headers, their names): the coordinator asks before its first
/// worker, so this is on every run's way.
#[cfg(all(target_os = "linux", not(mptest_portable)))]
fn counters_section() -> Option<bool> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(crate::platform::own_exe()).ok()?;
    let read = |offset: u64, len: usize| -> Option<Vec<u8>> {
        let mut bytes = vec![0; len];
        file.read_exact_at(&mut bytes, offset).ok()?;
        Some(bytes)
    };
    let head = read(0, std::mem::size_of::<elf::FileHeader64<Endianness>>())?;
    let header = elf::FileHeader64::<Endianness>::parse(&*head).ok()?;
    let endian = header.endian().ok()?;
    let count = usize::from(header.e_shnum.get(endian));
    let size = std::mem::size_of::<elf::SectionHeader64<Endianness>>();
    let table = read(header.e_shoff.get(endian), count.checked_mul(size)?)?;
    let sections: &[elf::SectionHeader64<Endianness>] = object::pod::slice_from_all_bytes(&table).ok()?;
    let names = sections.get(usize::from(header.e_shstrndx.get(endian).0))?;
    let names = read(names.sh_offset(endian), usize::try_from(names.sh_size(endian)).ok()?)?;
    let wanted = b"__llvm_prf_cnts\0";
    Some(sections.iter().any(|section| {
        let start = section.sh_name(endian) as usize;
        names.get(start..start + wanted.len()) == Some(&wanted[..])
    }))
}

/// The runtime address of `__llvm_profile_initialize`, if this binary is instrumented. Reads
/// the ELF header and section headers only (a few KiB) unless it is: every child pays this.
#[cfg(all(target_os = "linux", not(mptest_portable)))]
fn find_profile_initializer() -> Option<usize> {
    let file = std::fs::File::open(crate::platform::own_exe()).ok()?;
    let data = &object::ReadCache::new(file);
    let header = elf::FileHeader64::<Endianness>::parse(data).ok()?;
    let endian = header.endian().ok()?;
    let sections = header.sections(endian, data).ok()?;
    sections.section_by_name(endian, b"__llvm_prf_cnts")?;
    // The symbol table and its strings, each in one read (looking names up one by one through
    // the cache would read the file in thousands of small pieces).
    let (_, symtab) = sections
        .enumerate()
        .find(|(_, s)| s.sh_type(endian) == elf::SHT_SYMTAB)?;
    let strtab = sections
        .section(object::SectionIndex(symtab.sh_link(endian) as usize))
        .ok()?;
    let symbols: &[elf::Sym64<Endianness>] =
        object::pod::slice_from_all_bytes(symtab.data(endian, data).ok()?).ok()?;
    let names = strtab.data(endian, data).ok()?;
    let wanted = b"__llvm_profile_initialize\0";
    let symbol = symbols.iter().find(|s| {
        let start = s.st_name(endian) as usize;
        names.get(start..start + wanted.len()) == Some(&wanted[..])
    })?;
    // Where the binary was loaded: the entry point at run time minus the one it was linked at.
    // SAFETY: getauxval has no preconditions.
    let entry = unsafe { libc::getauxval(libc::AT_ENTRY) } as u64;
    let address = entry
        .checked_sub(header.e_entry(endian))?
        .checked_add(symbol.st_value(endian))?;
    usize::try_from(address).ok()
}
