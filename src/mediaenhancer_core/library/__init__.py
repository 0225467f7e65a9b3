"""The media library: media rows and their objects, uploads, projects, and the reaper that removes what is left over."""
